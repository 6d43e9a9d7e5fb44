"""Input contracts shared by the loss functions: image batches, matching shapes, loss dtype."""

from __future__ import annotations

import torch
from torch import Tensor


def require_images(x: Tensor, name: str, channels: int | None = None) -> None:
    """Raise unless ``x`` is a floating ``(B, C, H, W)`` tensor (with ``C == channels`` if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(x.shape)}")


def require_same_shape(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def upcast_to_float32(x: Tensor) -> Tensor:
    """``x`` in float32, or kept as it is when it is already float32 or wider (float64).

    Losses are reduced in at least float32: half-precision sums over a whole image overflow or
    lose most of their digits. The cast is differentiable."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
