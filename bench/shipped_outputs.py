"""Fingerprints of every shipped model's outputs: the same bits before and after a refactor.

Runs each model in ``weights/`` through the public API (:func:`tunecli.api.load`, fp32 on the
CPU) on a crop of a shipped sample at its corners, its default alpha and the centre, whole and in
tiles, and records the SHA-256 of each uint8 output. ``--record FILE`` writes them;
``--check FILE`` recomputes and prints, per output, whether the bits are the same (exit 1 if
any differ). Fingerprints hold for one machine and torch build: record and check on the same one.

    python bench/shipped_outputs.py --record /tmp/before.json
    python bench/shipped_outputs.py --check /tmp/before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import tunecli.api as tc
from tunecli.imageio import read_image
from tunecli.models import shipped_models

SAMPLES = Path(__file__).resolve().parent.parent / "tunecli" / "samples"


def _crop(name: str, side: int) -> np.ndarray:
    """A ``side``-px uint8 crop of a shipped sample, (side, side, 3)."""
    pixels = read_image(SAMPLES / name).pixels  # float32 in [0, 1]
    return np.ascontiguousarray(np.round(pixels[:side, :side, :3] * 255).astype(np.uint8))


def fingerprints() -> dict[str, str]:
    """``{"model alpha tile": sha256}`` for every shipped model."""
    out: dict[str, str] = {}
    for info in shipped_models():
        restorer = tc.load(info.name, device="cpu", precision="fp32")
        space = restorer.alpha_space
        side = 48 if restorer.scale > 1 else 96
        source = _crop("chelsea-small.png" if restorer.scale > 1 else "chelsea-noisy25.png", side)
        corners = [tuple(float(i == j) for j in range(space.p)) for i in range(space.p)]
        centre = tuple(1.0 / space.p for _ in range(space.p)) if space.domain == "simplex" else (0.5,) * space.p
        for omega in [*corners, space.default, centre]:
            for tile in (0, 64):
                result = restorer.run(source, alpha=omega, tile=tile, overlap=16 if tile else None)
                key = f"{info.name} {','.join(f'{v:g}' for v in omega)} tile={tile}"
                out[key] = hashlib.sha256(np.ascontiguousarray(result).tobytes()).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path, help="write the fingerprints to this JSON file")
    group.add_argument("--check", type=Path, help="compare with fingerprints recorded earlier")
    args = parser.parse_args()
    current = fingerprints()
    if args.record:
        args.record.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(current)} outputs of {len(shipped_models())} models in {args.record}")
        return 0
    recorded = json.loads(args.check.read_text())
    differ = [k for k in recorded if current.get(k) != recorded[k]]
    for key in sorted(recorded):
        print(f"{'same' if key not in differ else 'DIFFERENT'}  {key}")
    print(f"{len(recorded) - len(differ)} of {len(recorded)} outputs bit-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
