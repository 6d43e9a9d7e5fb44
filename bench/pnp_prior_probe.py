"""Which denoiser makes the better prior for ``deblur --kernel``? A quick probe, for comparing
priors while they train (the full measure is ``bench/deblur_baselines.py``).

Scores ``--kernel`` with each prior given (a model name or a checkpoint, e.g. one written by
``tunecli train denoise --unroll 8``) on the probe of ``docs/models.md``: the first image of
CBSD68 and of McMaster × Levin's 8 kernels, 256-px 'valid' crops, seeded noise, the default
alpha and the true σ, PSNR of the 8-bit RGB output; each prior's gain is against the first.

    python bench/pnp_prior_probe.py DATA_DIR --priors denoise-unet-l4,weights/denoise-pnp-unet-l4.safetensors --sigmas 2.55,7.65,15
"""

from __future__ import annotations

import argparse
from pathlib import Path

import deblur_baselines as baselines
import numpy as np

from tunecli.api import load
from tunecli.degradations.kernel_files import read_kernels
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.pnp.deblur import deblur_with_kernel
from tunecli.pnp.hqs import dpir_schedule
from tunecli.pnp.prior import DenoiserPrior
from tunecli.training.data import list_images


def probe(model: str, data: Path, sigma: float) -> float:
    """Mean PSNR (8-bit RGB) of ``--kernel`` with the prior ``model`` at its default alpha and the
    true σ on the probe."""
    prior = DenoiserPrior(load(model, device="cpu", precision="fp32"))
    images = []
    for name in ("CBSD68", "McMaster"):
        images += load_clean_images(sorted(list_images([data / "test" / name]))[:1])
    kernels = read_kernels(data / "kernels" / "KAIR" / "Levin09.mat")
    scores = []
    for clean, degraded, kernel in baselines.make_cases(images, kernels, sigma, 0, 256, "valid"):
        restored = deblur_with_kernel(degraded, kernel, prior, schedule=dpir_schedule(sigma))
        scores.append(psnr(quantize_8bit(restored), clean))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the data folder (test/CBSD68, test/McMaster, kernels/KAIR)")
    parser.add_argument("--priors", default="denoise-unet-l4", help="comma-separated models or checkpoints")
    parser.add_argument("--sigmas", default="2.55,7.65,15")
    args = parser.parse_args()
    priors = args.priors.split(",")
    print(f"machine: {describe_host()}")
    print("| σ | " + " | ".join(priors) + " |\n|---|" + "---|" * len(priors))
    for sigma in (float(s) for s in args.sigmas.split(",")):
        scores = [probe(model, args.data, sigma) for model in priors]
        cells = [f"{scores[0]:.3f}"] + [f"{s:.3f} ({s - scores[0]:+.3f})" for s in scores[1:]]
        print(f"| {sigma:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
