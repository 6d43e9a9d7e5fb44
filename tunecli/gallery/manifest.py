"""What a sweep did (``manifest.json``, SPEC §6): model, alphas, run settings, per-output timings
and, when a reference image is given, PSNR/SSIM of every output against it.

The manifest is plain JSON built from small dataclasses, so a script can rebuild the table of a
sweep without reading any image. Non-finite numbers (PSNR of an identical image) are written as
``null``; JSON has no infinity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tunecli import __version__
from tunecli.alpha import AlphaSpace, Omega, Sweep
from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim
from tunecli.imageio.atomic import atomic_output

#: 2: each output names its alpha by ``alpha_index`` (into ``alphas``) and carries its ``omega``
#: (and, for a one-knob model, its ``alpha`` value); version 1 wrote the index as ``alpha``.
MANIFEST_VERSION = 2


@dataclass(frozen=True)
class ModelRecord:
    """The model a sweep ran: shipped name (or file stem), checkpoint file and its sha256."""

    name: str
    path: str
    sha256: str
    arch: str
    task: str
    scale: int


@dataclass(frozen=True)
class RunSettings:
    """How the model was run: tile side (0 = whole image; ``auto`` as resolved), overlap,
    device, precision, and whether the 8-transform self-ensemble was on."""

    tile: int | str
    overlap: int
    device: str
    precision: str
    ensemble: bool = False


@dataclass(frozen=True)
class Quality:
    """Full-reference scores of one output: PSNR in dB (``inf`` when identical) and SSIM."""

    psnr: float
    ssim: float


@dataclass
class OutputRecord:
    """One written output: which alpha (its index in the sweep), the file, seconds of compute,
    tile side used, scores."""

    alpha_index: int
    file: str
    seconds: float
    tile: int | None = None
    precision: str | None = None
    quality: Quality | None = None


@dataclass
class InputRecord:
    """One input of the sweep, its gallery folder, its outputs and the reference it was scored on."""

    input: str
    folder: str
    outputs: list[OutputRecord] = field(default_factory=list)
    reference: str | None = None


def measure(output: np.ndarray, reference: np.ndarray) -> Quality:
    """PSNR/SSIM of ``output`` against ``reference`` (float ``(H, W[, C])`` in [0, 1]), both
    quantized to 8 bits as the literature does (what a user's 8-bit file holds).

    Raises ``ValueError`` when the shapes differ.
    """
    if output.shape != reference.shape:
        raise ValueError(f"reference is {_size(reference)}, output is {_size(output)}")
    a, b = quantize_8bit(output), quantize_8bit(reference)
    return Quality(psnr(a, b), ssim(a, b))


def _size(array: np.ndarray) -> str:
    channels = array.shape[2] if array.ndim == 3 else 1
    return f"{array.shape[1]}x{array.shape[0]} with {channels} channel(s)"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def build_manifest(
    *,
    model: ModelRecord,
    space: AlphaSpace,
    sweep: Sweep,
    sweep_text: str,
    settings: RunSettings,
    inputs: Sequence[InputRecord],
    created: datetime | None = None,
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict (see the module docstring)."""
    stamp = (created or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return {
        "manifest_version": MANIFEST_VERSION,
        "tunecli_version": __version__,
        "created": stamp,
        "model": {
            "name": model.name,
            "path": model.path,
            "sha256": model.sha256,
            "arch": model.arch,
            "task": model.task,
            "scale": model.scale,
        },
        "alpha_space": space.to_json(),
        "sweep": {"spec": sweep_text, "kind": sweep.kind, "shape": list(sweep.shape)},
        "alphas": [_alpha_json(space, index, omega) for index, omega in enumerate(sweep.omegas)],
        "settings": {
            "tile": settings.tile,
            "overlap": settings.overlap,
            "device": settings.device,
            "precision": settings.precision,
            "ensemble": settings.ensemble,
        },
        "inputs": [_input_json(record, space, sweep.omegas) for record in inputs],
    }


def _alpha_json(space: AlphaSpace, index: int, omega: Omega) -> dict[str, Any]:
    data: dict[str, Any] = {
        "index": index,
        "omega": list(omega),
        "label": space.label(omega),
        "text": space.describe(omega),
    }
    if space.scalar:
        data["alpha"] = space.scalar_of(omega)
    return data


def _input_json(record: InputRecord, space: AlphaSpace, omegas: Sequence[Omega]) -> dict[str, Any]:
    outputs = []
    for output in record.outputs:
        omega = omegas[output.alpha_index]
        item: dict[str, Any] = {"alpha_index": output.alpha_index, "omega": list(omega)}
        if space.scalar:
            item["alpha"] = space.scalar_of(omega)
        item |= {
            "file": output.file,
            "seconds": round(output.seconds, 4),
            "tile": output.tile,
            "precision": output.precision,
        }
        if output.quality is not None:
            item["psnr"] = _finite(round(output.quality.psnr, 4))
            item["ssim"] = round(output.quality.ssim, 6)
        outputs.append(item)
    return {"input": record.input, "folder": record.folder, "reference": record.reference, "outputs": outputs}


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest serialized: indented, UTF-8 characters kept, no NaN/Infinity tokens."""
    return json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` (from :func:`build_manifest`) to ``path`` atomically."""
    text = manifest_text(manifest)
    with atomic_output(Path(path), overwrite=True) as file:
        file.write(text.encode("utf-8"))


def read_manifest(path: Path) -> dict[str, Any]:
    """Load a manifest written by a sweep."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
