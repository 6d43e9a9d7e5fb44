"""Pixel losses: per-sample distances between a restored batch and its target.

Every function maps ``out, target`` of the same shape ``(B, C, H, W)`` (floating, images on the
[0, 1] scale) to a ``(B,)`` tensor: the mean over C, H and W of a per-pixel distance, one value per
sample and no reduction over the batch, so a trainer can weight each sample's objectives with its
own ω. The result is float32 (float64 for float64 inputs) and differentiable w.r.t. ``out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from tunecli.losses._checks import require_images, require_same_shape, upcast_to_float32

PixelLoss = Callable[[Tensor, Tensor], Tensor]

#: Added to the MSE inside the logarithm of :func:`negative_psnr`, so identical images give a
#: finite value (100 dB) and a finite gradient instead of -inf.
PSNR_MSE_FLOOR = 1e-10

_DB_PER_NEPER = 10.0 / math.log(10.0)


def _difference(out: Tensor, target: Tensor) -> Tensor:
    require_images(out, "out")
    require_images(target, "target")
    require_same_shape(out, target, ("out", "target"))
    return upcast_to_float32(out) - upcast_to_float32(target)


def _per_sample_mean(values: Tensor) -> Tensor:
    return values.mean(dim=(1, 2, 3))


def l1(out: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error per sample: ``mean_{c,h,w} |out - target|``, shape ``(B,)``."""
    return _per_sample_mean(_difference(out, target).abs())


def l2(out: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per sample: ``mean_{c,h,w} (out - target)²``, shape ``(B,)``."""
    return _per_sample_mean(_difference(out, target).square())


def charbonnier(out: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier (smooth L1) loss per sample: ``mean_{c,h,w} sqrt((out - target)² + eps²)``, shape ``(B,)``.

    ``eps`` (> 0) is not subtracted, so identical images give ``eps``, not 0; the gradient is
    smooth at 0, unlike L1's."""
    if not eps > 0:
        raise ValueError(f"charbonnier eps must be > 0, got {eps}")
    difference = _difference(out, target)
    return _per_sample_mean(torch.sqrt(difference.square() + eps * eps))


def negative_psnr(out: Tensor, target: Tensor) -> Tensor:
    """Minus the PSNR in dB per sample, for images on the [0, 1] scale, shape ``(B,)``.

    Computed as ``10 / ln 10 · ln(mse + 1e-10)`` with ``mse`` the per-sample mean squared error,
    i.e. ``-10 · log10(1 / mse)``; the floor caps identical images at -100 dB. Minimizing it
    weights each sample's MSE by ``1 / mse``, so easy samples count as much as hard ones."""
    return _DB_PER_NEPER * torch.log(l2(out, target) + PSNR_MSE_FLOOR)


#: The pixel losses by the name a training configuration uses.
PIXEL_LOSSES: dict[str, PixelLoss] = {"l1": l1, "l2": l2, "charbonnier": charbonnier, "psnr": negative_psnr}
