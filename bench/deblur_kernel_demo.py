"""The README's camera-shake example: the shipped sample ``chelsea-blurred.png`` (a CC0 photo
blurred by the seeded shake kernel ``chelsea-blurred-kernel.npy``, noise σ 5) restored by the
blind ``deblur-unet`` and by ``tunecli deblur --kernel`` (its default prior) across its alpha range; prints PSNR
against the sharp photo and writes a crop row at 2× (blurred | blind | --kernel at each alpha |
sharp) to ``bench/results/deblur-kernel-crops.png``.

    python bench/deblur_kernel_demo.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from crop_row import save_crop_row

import tunecli.api as tc
from tunecli.device import describe_host
from tunecli.evaluation.metrics import psnr
from tunecli.imageio import read_image
from tunecli.pnp.deblur import DEFAULT_ALPHA
from tunecli.pnp.restorer import KERNEL_ALPHA, KernelDeblurrer
from tunecli.tasks import get_task

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tunecli" / "samples"
ALPHAS = (0.0, DEFAULT_ALPHA, 0.5, 1.0)
CROP = (slice(60, 210), slice(120, 300))


def main() -> None:
    blurred = read_image(SAMPLES / "chelsea-blurred.png").pixels
    sharp = read_image(SAMPLES / "chelsea.png").pixels
    blind = tc.load("deblur-unet", device="cpu", precision="fp32").run(blurred)
    prior = tc.load(get_task("deblur").kernel_prior_name(), device="cpu", precision="fp32")
    deblurrer = KernelDeblurrer.from_file(prior, SAMPLES / "chelsea-blurred-kernel.npy")
    columns = [("blurred", blurred), ("deblur-unet (blind)", blind)]
    for alpha in ALPHAS:
        restored = deblurrer.restore(blurred, KERNEL_ALPHA.omega_of_scalar(alpha)).image.pixels
        columns.append((f"--kernel, alpha {alpha:g}", restored))
    columns.append(("sharp", sharp))
    print(f"Machine: {describe_host()}; prior {prior.model.name}\n")
    print("| method | PSNR (dB) vs the sharp photo |\n|---|---|")
    for name, pixels in columns[:-1]:
        print(f"| {name} | {psnr(np.round(np.clip(pixels, 0, 1) * 255) / 255, sharp):.2f} |")
    out = ROOT / "bench" / "results" / "deblur-kernel-crops.png"
    caption = save_crop_row(columns, CROP, out)
    print(f"\nwrote {out.relative_to(ROOT)}: {caption}")


if __name__ == "__main__":
    main()
