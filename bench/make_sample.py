"""Make the README's sample image: scikit-image's "Chelsea the cat" (CC0, Stefan van der Walt)
with seeded Gaussian noise at σ = 25 (0–255 scale), saved as an 8-bit PNG — what a noisy
photo looks like on disk.

    python bench/make_sample.py            # writes tunecli/samples/chelsea-noisy25.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import data

from tunecli.degradations.noise import seeded_awgn
from tunecli.imageio import Image, ImageMeta, write_image

OUT = Path(__file__).resolve().parent.parent / "tunecli" / "samples" / "chelsea-noisy25.png"


def main() -> None:
    clean = data.chelsea().astype(np.float32) / 255.0
    noisy = seeded_awgn(clean, 25.0, seed=0, index=0, quantized=True)
    meta = ImageMeta(format="png", dtype="uint8", mode="RGB", icc_profile=None, exif=None, notices=[], extra={})
    write_image(OUT, Image(pixels=noisy, alpha=None, meta=meta), overwrite=True)
    print(OUT)


if __name__ == "__main__":
    main()
