"""A tiny reference architecture (a few tunable convolutions) for tests and demos."""

from __future__ import annotations

from torch import Tensor, nn

from tunecli.archs.registry import TilingContract, TunableNet, register_arch
from tunecli.layers import TunableConv2d, TunableParameter, TunableSequential


@register_arch("tiny", "three tunable 3x3 convolutions with a tunable residual scale (tests, demos)")
class TinyTunable(TunableNet):
    """Residual net ``x + s(ω)·conv(relu(conv(relu(conv(x)))))``; tile-exact, radius 3.

    ``x``: ``(B, channels, H, W)`` float in [0, 1]; output has the same shape.
    """

    def __init__(self, channels: int = 3, width: int = 8, p: int = 2, affine: bool = False) -> None:
        super().__init__()
        self.p = p
        self.channels = channels
        self.body = TunableSequential(
            TunableConv2d(channels, width, 3, p, padding=1, affine=affine),
            nn.ReLU(),
            TunableConv2d(width, width, 3, p, padding=1, affine=affine),
            nn.ReLU(),
            TunableConv2d(width, channels, 3, p, padding=1, affine=affine),
        )
        self.scale = TunableParameter((channels,), p, init=1.0, affine=affine)

    @property
    def tiling(self) -> TilingContract:
        return TilingContract(scale=1, size_multiple=1, receptive_radius=3, tile_exact=True)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        scale = self.scale(omega)
        correction = scale[:, :, None, None] * self.body(x.to(self.body[0].weight.dtype), omega)
        return x + correction.to(x.dtype)
