"""The downscaling of the super-resolution task, and the bicubic and Lanczos baselines.

One function makes every low-resolution image, in training and in evaluation:
:func:`downscale`, bicubic with antialiasing — torch's ``F.interpolate(mode="bicubic",
antialias=True)``. For downscaling by ``s`` that is Keys' cubic (a = −0.5) stretched by ``s``
(support 4·s input pixels), weights renormalised where the support leaves the image (no
padding). It agrees with Pillow's ``Image.resize(BICUBIC, reducing_gap=None)`` on float (mode
``"F"``) images to float32 rounding (≤ 3e-7 on random images), so it is the usual "bicubic
downscale"; it is not a box average: a 2×2-block image downscaled by 2 comes out filtered by the
block taps ``[-3, 20, 222, 20, -3] / 256`` (away from the borders). Pillow on 8-bit images differs by its output
rounding and clipping (up to 1/255, more where bicubic overshoots [0, 1]). Evaluation calls the
same function through :func:`downscale_array`.

Sizes that are not multiples of the scale are first cropped to multiples (bottom rows and right
columns dropped, as MATLAB's ``modcrop``); :func:`crop_to_multiple` crops a ground-truth image
the same way so that it matches ``scale ×`` the low-resolution size.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch.nn.functional as F
from torch import Tensor

from tunecli.errors import UsageError
from tunecli.tensors import batch_to_image, image_to_batch


def crop_to_multiple(array: np.ndarray, scale: int) -> np.ndarray:
    """The top-left part of ``array`` ``(H, W)`` or ``(H, W, C)`` whose height and width are
    multiples of ``scale`` (a view, any dtype)."""
    _check_scale(scale)
    if not isinstance(array, np.ndarray) or array.ndim not in (2, 3):
        raise UsageError(f"crop_to_multiple needs an (H, W) or (H, W, C) array, got {_describe(array)}")
    h, w = array.shape[:2]
    return array[: h - h % scale, : w - w % scale]


def downscale(images: Tensor, scale: int, clip: bool = True) -> Tensor:
    """Bicubic, antialiased downscaling by an integer ``scale`` (see the module doc).

    ``images``: float ``(B, C, H, W)`` in [0, 1], H and W at least ``scale``; they are cropped
    to multiples of ``scale`` first. Returns ``(B, C, H // scale, W // scale)`` of the same
    dtype and device, clipped to [0, 1] unless ``clip`` is False (bicubic overshoots at edges).
    """
    _check_images(images, "downscale")
    _check_scale(scale)
    h, w = images.shape[-2:]
    if min(h, w) < scale:
        raise UsageError(f"downscale by {scale} needs images of at least {scale}x{scale} pixels, got {h}x{w}")
    cropped = images[..., : h - h % scale, : w - w % scale]
    size = (h // scale, w // scale)
    out = F.interpolate(cropped, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0) if clip else out


def downscale_array(array: np.ndarray, scale: int, clip: bool = True) -> np.ndarray:
    """:func:`downscale` for one numpy image ``(H, W)`` or ``(H, W, C)`` in [0, 1].

    Returns float32 ``(H // scale, W // scale[, C])``, equal to the torch path on the same image.
    """
    array = _check_array(array, "downscale_array")
    cropped = crop_to_multiple(array, scale)
    return _from_batch(downscale(_to_batch(cropped), scale, clip), array.ndim)


def upscale_bicubic(images: Tensor, scale: int, clip: bool = True) -> Tensor:
    """The bicubic super-resolution baseline: Keys' cubic (a = −0.5, as Pillow's and MATLAB's
    bicubic; torch's plain ``"bicubic"`` uses a = −0.75, so this asks for ``antialias=True``,
    which for enlarging only selects that kernel).

    ``images``: float ``(B, C, H, W)`` in [0, 1]. Returns ``(B, C, H·scale, W·scale)``, clipped
    to [0, 1] unless ``clip`` is False.
    """
    _check_images(images, "upscale_bicubic")
    _check_scale(scale)
    h, w = images.shape[-2:]
    out = F.interpolate(images, size=(h * scale, w * scale), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0) if clip else out


def upscale_lanczos_array(array: np.ndarray, scale: int, clip: bool = True) -> np.ndarray:
    """The Lanczos super-resolution baseline: Pillow's LANCZOS (a = 3) per channel in float mode.

    ``array``: ``(H, W)`` or ``(H, W, C)`` in [0, 1]. Returns float32 ``(H·scale, W·scale[, C])``,
    clipped to [0, 1] unless ``clip`` is False.
    """
    array = _check_array(array, "upscale_lanczos_array")
    _check_scale(scale)
    planes = array[..., None] if array.ndim == 2 else array
    h, w = planes.shape[:2]
    size = (w * scale, h * scale)
    # A float32 plane becomes a mode "F" image: no 8-bit rounding on the way.
    resized = [
        np.asarray(PIL.Image.fromarray(np.ascontiguousarray(planes[..., c])).resize(size, PIL.Image.Resampling.LANCZOS))
        for c in range(planes.shape[2])
    ]
    out = np.stack(resized, axis=-1)
    if clip:
        out = np.clip(out, 0.0, 1.0)
    return out[..., 0] if array.ndim == 2 else out


def _to_batch(array: np.ndarray) -> Tensor:
    return image_to_batch(array[..., None] if array.ndim == 2 else array)


def _from_batch(images: Tensor, ndim: int) -> np.ndarray:
    out = batch_to_image(images)
    return np.ascontiguousarray(out[..., 0] if ndim == 2 else out)


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise UsageError(f"scale must be a positive integer, got {scale!r}")


def _check_images(images: Tensor, name: str) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise UsageError(f"{name} needs float images (B, C, H, W), got {_describe(images)}")


def _check_array(array: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.ndim not in (2, 3):
        raise UsageError(f"{name} needs an (H, W) or (H, W, C) array, got {_describe(array)}")
    if not np.issubdtype(array.dtype, np.floating):
        raise UsageError(f"{name} needs a float array in [0, 1], got {array.dtype}")
    return array.astype(np.float32, copy=False)


def _describe(value: object) -> str:
    if isinstance(value, (Tensor, np.ndarray)):
        return f"shape {tuple(value.shape)} ({value.dtype})"
    return type(value).__name__
