"""Make the README's sample images from scikit-image's "Chelsea the cat" (CC0, Stefan van der
Walt):

- ``chelsea.png``: the photo itself (an input for ``tunecli style``);
- ``chelsea-noisy25.png``: with seeded Gaussian noise at σ = 25 (0–255 scale), saved as an 8-bit
  PNG — what a noisy photo looks like on disk (the denoise quick start);
- ``chelsea-small.png``: the whole photo downscaled ×4 by the upscale task's own bicubic with
  antialiasing (:func:`tunecli.degradations.resize.downscale_array`), 112×75 px — an input for
  ``tunecli upscale`` whose original is known;
- ``chelsea-blurred.png``: the photo blurred by a seeded camera-shake kernel of strength 0.6
  (:func:`tunecli.degradations.blur.random_kernel`, 15 px long; reflect boundary; the kernel
  itself is ``chelsea-blurred-kernel.npy``, for ``tunecli deblur --kernel``) with 8-bit
  noise of σ = 5 — an input for ``tunecli deblur`` (the README's box sweep).

    python bench/make_sample.py            # writes all four into tunecli/samples/
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage import data

from tunecli.degradations.blur import blur, random_kernel
from tunecli.degradations.noise import seeded_awgn
from tunecli.degradations.resize import crop_to_multiple, downscale_array
from tunecli.imageio import Image, ImageMeta, write_image

SAMPLES = Path(__file__).resolve().parent.parent / "tunecli" / "samples"


def save(name: str, pixels: np.ndarray) -> None:
    meta = ImageMeta(format="png", dtype="uint8", mode="RGB", icc_profile=None, exif=None, notices=[], extra={})
    write_image(SAMPLES / name, Image(pixels=pixels, alpha=None, meta=meta), overwrite=True)
    print(SAMPLES / name)


def main() -> None:
    clean = data.chelsea().astype(np.float32) / 255.0
    save("chelsea.png", clean)
    save("chelsea-noisy25.png", seeded_awgn(clean, 25.0, seed=0, index=0, quantized=True))
    save("chelsea-small.png", downscale_array(crop_to_multiple(clean, 4), 4))
    kernel = random_kernel(0.6, torch.Generator().manual_seed(7), kind="motion")
    blurred = blur(torch.from_numpy(clean.transpose(2, 0, 1).copy())[None], kernel[None])[0].numpy().transpose(1, 2, 0)
    save("chelsea-blurred.png", seeded_awgn(np.ascontiguousarray(blurred), 5.0, seed=0, index=1, quantized=True))
    np.save(SAMPLES / "chelsea-blurred-kernel.npy", kernel.numpy().astype(np.float32))  # for tunecli deblur --kernel
    print(SAMPLES / "chelsea-blurred-kernel.npy")


if __name__ == "__main__":
    main()
