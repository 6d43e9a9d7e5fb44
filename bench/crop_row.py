"""One picture for the docs: the same crop of several results side by side, zoomed without
smoothing (nearest neighbour), so that grids, grain and halos show as they are.

Shared by ``bench/deblur_kernel_demo.py`` and ``bench/upscale_crops.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def save_crop_row(
    columns: Sequence[tuple[str, np.ndarray]], crop: tuple[slice, slice], out: Path, zoom: int = 2
) -> str:
    """Write ``crop`` of every ``(label, image)`` column, left to right, ``zoom``× enlarged.

    ``image``: float ``(H, W, 3)`` in [0, 1] (clipped, rounded to 8 bits), all the same size.
    Returns the labels joined by ``" | "`` (the caption to print beside the picture)."""
    row = np.concatenate([np.clip(pixels[crop], 0, 1) for _, pixels in columns], axis=1)
    picture = Image.fromarray(np.round(row * 255).astype(np.uint8))
    picture.resize((picture.width * zoom, picture.height * zoom), Image.NEAREST).save(out)
    return " | ".join(label for label, _ in columns)
