"""Tunable instance normalization, and the whole-image statistics that make it tile-consistent.

Instance normalization pools each channel's mean and variance over the whole image, so a
network using it gives a different result on a tile than on the image around it. For large
images the runtime measures the statistics once on the whole image (downscaled to fit memory)
with :func:`image_statistics`, then runs tiles under :func:`shared_statistics`: every tile is
normalized with the same numbers, no seam or change of look shows, and the network becomes a
plain convolutional net, exact under tiling with its receptive radius.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tunecli.layers.tunable import OmegaModule, TunableParameter


class TunableInstanceNorm(OmegaModule):
    """Instance normalization with a tunable per-channel scale and shift: ``(B, C, H, W)`` →
    same shape; statistics per sample and channel over H, W (computed in float32).

    Under :func:`recorded_statistics` it also accumulates the statistics of what it sees; under
    :func:`shared_statistics` it normalizes with given statistics instead of its input's own."""

    def __init__(self, channels: int, p: int, affine: bool, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = TunableParameter((channels,), p, init=1.0, affine=affine)
        self.bias = TunableParameter((channels,), p, init=0.0, affine=affine)
        #: (mean, variance), each float32 ``(1, C, 1, 1)``, used instead of the input's own
        self.shared: tuple[Tensor, Tensor] | None = None
        #: while recording: [pixels, Σ pixels·mean, Σ pixels·(variance + mean²)] per channel
        self.recording: list | None = None

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if self.shared is not None:
            mean, var = (t.to(x.device) for t in self.shared)
            normalized = ((x.float() - mean) * torch.rsqrt(var + self.eps)).to(x.dtype)
        else:
            if self.recording is not None:
                var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, unbiased=False)
                pixels = x.shape[0] * x.shape[2] * x.shape[3]
                self.recording[0] += pixels
                self.recording[1] = self.recording[1] + pixels * mean.mean(0, keepdim=True)
                self.recording[2] = self.recording[2] + pixels * (var + mean.square()).mean(0, keepdim=True)
            normalized = F.instance_norm(x.float(), eps=self.eps).to(x.dtype)
        scale, shift = self.weight(omega), self.bias(omega)
        return normalized * scale[:, :, None, None].to(x.dtype) + shift[:, :, None, None].to(x.dtype)


Statistics = list[tuple[Tensor, Tensor]]


def _norms(module: nn.Module) -> list[TunableInstanceNorm]:
    return [m for m in module.modules() if isinstance(m, TunableInstanceNorm)]


def has_image_statistics(module: nn.Module) -> bool:
    """Whether ``module`` normalizes with statistics of the whole image (holds instance norms)."""
    return bool(_norms(module))


@contextmanager
def recorded_statistics(module: nn.Module) -> Iterator[Statistics]:
    """Record what every :class:`TunableInstanceNorm` of ``module`` (its ω baked) sees while the
    block runs it on one image; on leaving, the yielded list holds each norm's (mean, variance)
    per channel, float32 ``(1, C, 1, 1)`` each, in module order. Several calls (tiles, the
    samples of a batch) are pooled, weighted by their pixels."""
    norms = _norms(module)
    stats: Statistics = []
    for norm in norms:
        norm.recording = [0, 0.0, 0.0]
    try:
        yield stats
    finally:
        records = [norm.recording for norm in norms]
        for norm in norms:
            norm.recording = None
    if any(r is None or r[0] == 0 for r in records):
        raise RuntimeError("a normalization layer was not reached while recording image statistics")
    for pixels, mean_sum, square_sum in records:  # type: ignore[misc]
        mean = mean_sum / pixels
        stats.append((mean, (square_sum / pixels - mean.square()).clamp_min(0.0)))


@contextmanager
def shared_statistics(module: nn.Module, stats: Sequence[tuple[Tensor, Tensor]]) -> Iterator[None]:
    """Within the block every :class:`TunableInstanceNorm` of ``module`` normalizes with
    ``stats`` (from :func:`recorded_statistics` of the same network), not its input's own."""
    norms = _norms(module)
    if len(norms) != len(stats):
        raise ValueError(f"{len(stats)} statistics for {len(norms)} normalization layers")
    for norm, stat in zip(norms, stats, strict=True):
        norm.shared = stat
    try:
        yield
    finally:
        for norm in norms:
            norm.shared = None
