"""Benchmark: the paper's central claim at equal training budgets.

Trains (with ``tunecli train``) three small models for the same number of steps:
a tunable denoiser (ω sampled per sample), and two single-objective baselines at alpha 0
(σ = 5) and alpha 1 (σ = 50). Then compares, on the same seeded noisy images:

- at the corners: tunable vs the fixed model of that objective (claim: within 0.1 dB);
- in between: tunable vs DNI, the weight interpolation of the two fixed models (claim: better).

DNI needs no extra code: the baselines train only kernel 0 (alpha 0) or kernel 1 (alpha 1) of
a convex tunable bank, so a model holding kernel 0 of one and kernel 1 of the other computes
exactly ``(1 − α)·θ_A + α·θ_B`` at ω = (1 − α, α).

    python bench/paper_claim.py DATA_DIR --steps 1500 --work runs/claim
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from tunecli.checkpoint import load_tensors, read_header, save_checkpoint
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import evaluate_denoiser, load_clean_images
from tunecli.models import load_model
from tunecli.tasks import denoise
from tunecli.tiling import tile_apply
from tunecli.training.data import list_images

SMALL = '{"widths": [16, 32, 64], "blocks": [1, 1, 1]}'


def train(
    data: Path,
    out: Path,
    steps: int,
    fixed_alpha: str | None,
    corner_share: float = 0.2,
    loss: str = "l1",
    device: str = "cpu",
) -> None:
    if out.exists():
        print(f"# reusing {out}", flush=True)
        return
    command = [
        sys.executable, "-m", "tunecli", "train", "denoise",
        "--data", str(data / "train" / "BSDS500_train"), "--data", str(data / "train" / "BSDS500_test"),
        "--out", str(out), "--steps", str(steps), "--hparams", SMALL, "--checkpoint-every", str(steps), "--loss", loss, "--device", device,
    ]  # fmt: skip
    if fixed_alpha is not None:
        command += ["--fixed-alpha", fixed_alpha]
    else:
        command += ["--corner-share", str(corner_share)]
    print("#", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def make_dni(fixed0: Path, fixed1: Path, out: Path) -> None:
    """A tunable checkpoint whose bank holds kernel 0 of ``fixed0`` and kernel 1 of ``fixed1``."""
    a, b = load_tensors(read_header(fixed0)), load_tensors(read_header(fixed1))
    mixed = {k: torch.stack([a[k][0], b[k][1]]) if a[k].shape[:1] == (2,) else a[k] for k in a}
    save_checkpoint(out, mixed, {k: v for k, v in read_header(fixed0).meta.items() if k != "format_version"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--work", type=Path, default=Path("runs/claim"))
    parser.add_argument("--images", type=int, default=12, help="first N CBSD68 images")
    parser.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    parser.add_argument(
        "--corner-share",
        type=float,
        default=0.2,
        help="share of one-hot corners in the tunable model's ω sampling; the fixed models do not "
        "depend on it and are reused from --work when present",
    )
    parser.add_argument(
        "--loss",
        default="l1",
        help="training objective of all three models (tunecli train --loss); a loss other than l1 "
        "gets its own --work sub-folder",
    )
    parser.add_argument("--device", default="cpu", help="tunecli train --device for the three models")
    args = parser.parse_args()
    if args.loss != "l1":
        args.work = args.work / args.loss

    args.work.mkdir(parents=True, exist_ok=True)
    tunable_name = "tunable" if args.corner_share == 0.2 else f"tunable-corners{args.corner_share:g}"
    tunable, fixed0, fixed1 = (args.work / f"{n}.safetensors" for n in (tunable_name, "fixed-a0", "fixed-a1"))
    train(args.data, tunable, args.steps, None, args.corner_share, args.loss, args.device)
    train(args.data, fixed0, args.steps, "0", loss=args.loss, device=args.device)
    train(args.data, fixed1, args.steps, "1", loss=args.loss, device=args.device)
    dni = args.work / "dni.safetensors"
    make_dni(fixed0, fixed1, dni)

    images = load_clean_images(list_images([args.data / "test" / "CBSD68"])[: args.images])
    alphas = [float(a) for a in args.alphas.split(",")]
    rows: dict[tuple[str, float], float] = {}
    for name, path in (("tunable", tunable), ("DNI", dni), ("fixed α=0", fixed0), ("fixed α=1", fixed1)):
        net = load_model(path).module
        for alpha in alphas:
            if name.startswith("fixed") and alpha != float(name[-1]):
                continue
            omega = torch.tensor([1 - alpha, alpha])

            def run(
                noisy: np.ndarray, _sigma: float, _alpha: float, net: torch.nn.Module = net, omega: torch.Tensor = omega
            ) -> np.ndarray:
                x = torch.from_numpy(noisy.transpose(2, 0, 1).copy())
                with torch.no_grad():  # whole image, padded to the U-Net's size multiple
                    out = tile_apply(lambda t: net(t, omega), x, tile=0, overlap=0, size_multiple=4)
                return out.numpy().transpose(1, 2, 0)

            sigma = denoise.sigma_of_alpha(alpha)
            (row,) = evaluate_denoiser(run, images, [sigma], lambda _s, a=alpha: [a], noise_kinds=["float"])
            rows[(name, alpha)] = row.psnr

    print(f"\nMachine: {describe_host()}; {args.steps} steps per model, ")
    print(f"trained with the {args.loss} loss on {args.device}, ")
    print(f"tunable model with {args.corner_share:g} of its samples at one-hot corners, ")
    print(f"first {len(images)} CBSD68 images, float noise at σ(α) = 5 + 45α, PSNR (dB).\n")
    print("| α | σ | tunable | fixed | DNI | tunable − fixed | tunable − DNI |")
    print("|---|---|---|---|---|---|---|")
    for alpha in alphas:
        t, d = rows[("tunable", alpha)], rows[("DNI", alpha)]
        f = rows.get((f"fixed α={alpha:g}", alpha))
        fixed = f"{f:.2f}" if f is not None else "–"
        gap = f"{t - f:+.3f}" if f is not None else "–"
        print(f"| {alpha:g} | {denoise.sigma_of_alpha(alpha):g} | {t:.2f} | {fixed} | {d:.2f} | {gap} | {t - d:+.2f} |")


if __name__ == "__main__":
    main()
