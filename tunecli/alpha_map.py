"""Per-pixel tuning: an alpha *map* instead of one alpha for the whole image.

A map is an image the size of the input (or resized to it): one gray channel for a p = 2
simplex (0–1 → alpha, ω = (1 − a, a)) or one channel per axis, in axis order, for a box model
(each channel in [0, 1] is that axis; extra channels are ignored).

Two ways to run it (:meth:`tunecli.api.Restorer.restore_map`):

- **exact**: every tunable convolution computes ``K0∗x + Σᵢ ωᵢ(q)·(ΔKᵢ∗x)`` with ω resampled to
  its own resolution (:meth:`tunecli.layers.TunableConv2d.forward_spatial`). The layers are
  linear in ω, so this is what the layer would compute if its kernel were mixed at each
  pixel's own ω: a constant map gives exactly the uniform-alpha output, and where the map is
  constant over a layer's receptive field the output is that alpha's output. At a stride-2
  (down-sampling) layer ω is averaged over the coarse pixel's footprint (antialiased
  bilinear), at an up-sampling layer interpolated; the cost is about (p + 1)× a plain conv.
- **fast**: the image is run at a few uniform alphas (``levels`` per axis, spanning the map's
  range) and the outputs are blended per pixel, linearly between the two nearest levels on
  each axis: ``levels`` runs for a simplex, ``levels²`` for a p = 2 box, baked and as fast as
  a plain run each. Its error against exact mode is measured in ``bench/alpha_map.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tunecli.alpha import AlphaSpace
from tunecli.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

MODES = ("exact", "fast")


def check_mode(mode: str) -> None:
    """Refuse an ``--alpha-map-mode`` that is not one of :data:`MODES` (a
    :class:`~tunecli.errors.UsageError`)."""
    if mode not in MODES:
        raise UsageError(f"--alpha-map-mode must be one of {', '.join(MODES)}, not {mode!r}")


def axis_values(space: AlphaSpace, pixels: np.ndarray, name: str = "the alpha map") -> np.ndarray:
    """The per-pixel axis values of a map, float32 ``(k, H, W)`` in [0, 1]: ``k = 1`` (the alpha
    of a p = 2 simplex) or ``k = p`` (a box model). ``pixels``: ``(H, W)`` or ``(H, W, C)``
    float in [0, 1] (as :func:`tunecli.imageio.read_image` gives)."""
    values = np.asarray(pixels, dtype=np.float32)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[0] == 0 or values.shape[1] == 0:
        raise UsageError(f"{name} must be an image (H, W) or (H, W, C), got shape {values.shape}")
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise UsageError(f"{name} must hold values in [0, 1]")
    if space.domain == "box":
        if values.shape[2] < space.p:
            axes = ", ".join(space.names)
            raise UsageError(f"{name} needs one channel per axis ({axes}) for this box model, it has {values.shape[2]}")
        return np.ascontiguousarray(values[:, :, : space.p].transpose(2, 0, 1))
    if not space.scalar:
        raise UsageError(f"--alpha-map needs a p = 2 simplex or a box model; this one has {space.p} styles")
    return np.ascontiguousarray(values[:, :, :1].transpose(2, 0, 1))


def omega_of_values(space: AlphaSpace, values: Tensor) -> Tensor:
    """ω per pixel ``(p, H, W)`` from :func:`axis_values` ``(k, H, W)``: (1 − a, a) for a scalar
    simplex, the values themselves for a box."""
    import torch

    if space.domain == "box":
        return values
    return torch.cat([1.0 - values, values], dim=0)


def resized_values(values: np.ndarray, height: int, width: int) -> tuple[np.ndarray, bool]:
    """``values`` ``(k, h, w)`` resized to ``height`` × ``width`` (bilinear, antialiased when
    shrinking) and whether it had to be."""
    import torch
    import torch.nn.functional as F

    if values.shape[1:] == (height, width):
        return values, False
    shrink = values.shape[1] > height or values.shape[2] > width
    tensor = torch.from_numpy(values)[None]
    out = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink)
    return out[0].clamp(0, 1).numpy(), True


def check_spatial(module: nn.Module, name: str) -> None:
    """Refuse a network with tunable layers other than convolutions (e.g. the style network's
    tunable normalization), which have no per-pixel form."""
    from tunecli.layers import TunableConv2d, tunable_modules

    others = {type(m).__name__ for m in tunable_modules(module) if not isinstance(m, TunableConv2d)}
    if others:
        raise UsageError(
            f"{name} cannot take an alpha map in exact mode: its tunable {', '.join(sorted(others))} "
            "layers have no per-pixel form (use --alpha-map-mode fast)"
        )


class SpatialOmega:
    """``net(x, ω map)`` as a one-argument module for the tiling engine: the map rides along as
    extra input channels, so it is tiled, padded and cropped with the image. Input
    ``(B, C + p, H, W)``; output what ``net(x[:, :C], ω = x[:, C:])`` gives."""

    def __init__(self, net: nn.Module, channels: int) -> None:
        self.net = net
        self.channels = channels

    def __call__(self, stacked: Tensor) -> Tensor:
        c = self.channels
        dtype = next(self.net.parameters()).dtype
        return self.net(stacked[:, :c].to(dtype), stacked[:, c:].float()).float()


def fast_levels(low: float, high: float, levels: int) -> list[float]:
    """``levels`` evenly spaced values from ``low`` to ``high`` (one if they are equal)."""
    if levels < 2:
        raise UsageError(f"--alpha-map-levels must be at least 2, not {levels}")
    if high - low < 1e-6:
        return [low]
    return [float(v) for v in np.linspace(low, high, levels)]


def blend_weights(values: torch.Tensor, levels: list[float]) -> torch.Tensor:
    """Per-pixel weights ``(L, H, W)`` of ``L`` levels for ``values`` ``(H, W)``: linear between
    the two nearest levels (they sum to 1; a value on a level weighs it alone)."""
    import torch

    grid = torch.tensor(levels, dtype=torch.float32)
    if len(levels) == 1:
        return torch.ones(1, *values.shape)
    position = torch.clamp(values, grid[0], grid[-1])
    upper = torch.searchsorted(grid, position.contiguous(), right=False).clamp(1, len(levels) - 1)
    lower = upper - 1
    span = grid[upper] - grid[lower]
    t = (position - grid[lower]) / span
    weights = torch.zeros(len(levels), *values.shape)
    weights.scatter_add_(0, lower[None], (1 - t)[None])
    weights.scatter_add_(0, upper[None], t[None])
    return weights
