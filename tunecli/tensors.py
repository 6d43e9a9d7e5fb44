"""Images as torch batches: numpy ``(H, W, C)`` arrays ↔ ``(1, C, H, W)`` tensors.

The one conversion between the array layout of :mod:`tunecli.imageio` (and of the API's arrays)
and the batch layout of the networks, degradations and losses. Neither direction copies a
float32 image: the batch of an array is a view with channels-last strides, and the array of a
batch is a view that is not C-contiguous (``np.ascontiguousarray`` it where that matters).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def image_to_batch(pixels: np.ndarray) -> Tensor:
    """``pixels`` float ``(H, W, C)`` (images: in [0, 1]) as a float32 CPU batch ``(1, C, H, W)``.

    A view of ``pixels`` when they are float32 and C-contiguous (writing into the batch writes
    into the array), else a float32 copy (other float dtypes rounded to nearest). Raises
    ``ValueError`` for another shape or a non-float dtype (integer samples must be scaled first,
    see :func:`tunecli.imageio.samples_to_float`).
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or not np.issubdtype(pixels.dtype, np.floating):
        found = f"shape {pixels.shape} ({pixels.dtype})" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ValueError(f"image_to_batch needs a float (H, W, C) array, got {found}")
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1)[None]


def batch_to_image(batch: Tensor) -> np.ndarray:
    """A CPU batch of one image ``(1, C, H, W)`` as a numpy ``(H, W, C)`` view of its memory, of
    the batch's dtype (float32 in, float32 out). Raises ``ValueError`` for another shape."""
    if batch.dim() != 4 or batch.shape[0] != 1:
        raise ValueError(f"batch_to_image needs a batch of one image (1, C, H, W), got shape {tuple(batch.shape)}")
    return batch[0].permute(1, 2, 0).numpy()
