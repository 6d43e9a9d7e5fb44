"""Tunable feed-forward style-transfer network (Johnson et al. 2016 family).

Strided convolutions down ×4, residual blocks, nearest-neighbour up-sampling + convolution (not
transposed convolutions, which leave checkerboard patterns), every convolution tunable, and
instance normalization whose scale and shift are tunable too (the style lives largely in them).
Instance normalization pools statistics over the whole image, so the network is **not**
tile-exact by itself: the runtime runs it on the whole image up to a size, and tiles larger
ones with the statistics of the whole image measured once on a downscaled copy
(:func:`image_statistics`, :func:`shared_statistics`; see :mod:`tunecli.api`), so every tile
is normalized alike and no seam or change of look shows between tiles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tunecli.archs.registry import TilingContract, TunableNet, register_arch
from tunecli.layers import OmegaModule, TunableConv2d, TunableInstanceNorm


class ConvNormAct(OmegaModule):
    """Reflection-padded tunable conv, instance norm, optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, p: int, affine: bool, stride: int = 1, act: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = TunableConv2d(cin, cout, kernel, p, stride=stride, affine=affine)
        self.norm = TunableInstanceNorm(cout, p, affine)
        self.act = act

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        h = self.norm(self.conv(self.pad(x), omega), omega)
        return torch.relu(h) if self.act else h


class StyleResBlock(OmegaModule):
    """``x + norm(conv(relu(norm(conv(x)))))``; shape preserving."""

    def __init__(self, width: int, p: int, affine: bool) -> None:
        super().__init__()
        self.first = ConvNormAct(width, width, 3, p, affine)
        self.second = ConvNormAct(width, width, 3, p, affine, act=False)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return x + self.second(self.first(x, omega), omega)


@register_arch("stylenet", "tunable feed-forward style network, instance norm (style; not tile-exact)")
class TunableStyleNet(TunableNet):
    """``(B, channels, H, W)`` float in [0, 1] (H, W multiples of 4) → the stylized image, same
    shape, in [0, 1] (a sigmoid output). ``widths``: features at full, ½ and ¼ resolution."""

    def __init__(
        self,
        channels: int = 3,
        widths: tuple[int, int, int] | list[int] = (16, 32, 64),
        blocks: int = 4,
        p: int = 4,
        affine: bool = False,
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        if len(widths) != 3 or any(w < 1 for w in widths) or blocks < 0:
            raise ValueError("widths needs three values >= 1 and blocks >= 0")
        self.p, self.channels, self.widths, self.blocks = p, channels, widths, blocks
        w0, w1, w2 = widths
        self.encoder = nn.ModuleList(
            [
                ConvNormAct(channels, w0, 9, p, affine),
                ConvNormAct(w0, w1, 3, p, affine, stride=2),
                ConvNormAct(w1, w2, 3, p, affine, stride=2),
            ]
        )
        self.body = nn.ModuleList(StyleResBlock(w2, p, affine) for _ in range(blocks))
        self.decoder = nn.ModuleList([ConvNormAct(w2, w1, 3, p, affine), ConvNormAct(w1, w0, 3, p, affine)])
        self.pad_out = nn.ReflectionPad2d(4)
        self.out = TunableConv2d(w0, channels, 9, p, affine=affine)

    @property
    def tiling(self) -> TilingContract:
        # not exact whatever the overlap (instance norm); the radius of the convolutions alone
        # (exact once the statistics are shared, see tunecli.layers.normalization); in input
        # pixels, plus the cell slack of the ½ and ¼ grids (a coarse pixel spans 2 or 4 fine
        # ones) on the way down and up
        radius = 4 + 1 * 1 + 2 * 1 + self.blocks * 2 * 4 + 2 * 1 + 1 + 4 + 2 * (1 + 3)
        return TilingContract(scale=1, size_multiple=4, receptive_radius=radius, tile_exact=False)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        h = x.to(self.out.weight.dtype)
        for layer in self.encoder:
            h = layer(h, omega)
        for block in self.body:
            h = block(h, omega)
        for layer in self.decoder:
            h = layer(F.interpolate(h, scale_factor=2, mode="nearest"), omega)
        return torch.sigmoid(self.out(self.pad_out(h), omega)).to(x.dtype)
