"""Tunable U-Net for image restoration: dense 3x3 convolutions, no normalization, no pooling.

Dense convolutions run near the fp32 peak on CPUs (unlike depthwise convs or LayerNorm), so
this network trades the NAFNet block for plain residual blocks of tunable 3x3 convs; with only
local operations it is tile-exact. Down-sampling is a 2x2 stride-2 conv, up-sampling a 1x1 conv
followed by pixel shuffle (the same map as a 2x2 stride-2 transposed conv).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tunecli.archs.registry import TilingContract, TunableNet, register_arch
from tunecli.layers import OmegaModule, TunableConv2d, TunableSequential


class ResBlock(OmegaModule):
    """``x + conv(relu(conv(x)))`` with tunable 3x3 convs; shape preserving."""

    def __init__(self, width: int, p: int, affine: bool) -> None:
        super().__init__()
        self.conv1 = TunableConv2d(width, width, 3, p, padding=1, affine=affine)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = TunableConv2d(width, width, 3, p, padding=1, affine=affine)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return x + self.conv2(self.act(self.conv1(x, omega)), omega)


@register_arch("unet", "tunable residual U-Net of dense 3x3 convs (denoise, deblur)")
class TunableUNet(TunableNet):
    """Residual restoration U-Net: output = input + predicted correction.

    ``x``: ``(B, channels, H, W)`` float in [0, 1] with H, W multiples of ``2**(levels-1)``
    (the tiling engine pads); output has the same shape. ``widths[i]`` is the width of level
    ``i``; ``blocks[i]`` the residual blocks per side at level ``i`` (the last entry is the
    bottom of the U).
    """

    def __init__(
        self,
        channels: int = 3,
        widths: tuple[int, ...] | list[int] = (32, 64, 128),
        blocks: tuple[int, ...] | list[int] = (1, 1, 2),
        p: int = 2,
        affine: bool = False,
    ) -> None:
        super().__init__()
        widths, blocks = tuple(widths), tuple(blocks)
        if len(widths) != len(blocks) or not widths:
            raise ValueError("widths and blocks need the same, non-zero length")
        if any(w < 1 for w in widths) or any(b < 0 for b in blocks):
            raise ValueError("widths must be >= 1 and blocks >= 0")
        self.p = p
        self.channels = channels
        self.widths, self.blocks = widths, blocks
        levels = len(widths)
        self.head = TunableConv2d(channels, widths[0], 3, p, padding=1, affine=affine)
        self.encoders = nn.ModuleList(
            TunableSequential(*(ResBlock(widths[i], p, affine) for _ in range(blocks[i]))) for i in range(levels - 1)
        )
        self.downs = nn.ModuleList(
            TunableConv2d(widths[i], widths[i + 1], 2, p, stride=2, affine=affine) for i in range(levels - 1)
        )
        self.bottom = TunableSequential(*(ResBlock(widths[-1], p, affine) for _ in range(blocks[-1])))
        self.ups = nn.ModuleList(
            TunableSequential(TunableConv2d(widths[i + 1], widths[i] * 4, 1, p, affine=affine), nn.PixelShuffle(2))
            for i in range(levels - 1)
        )
        self.decoders = nn.ModuleList(
            TunableSequential(*(ResBlock(widths[i], p, affine) for _ in range(blocks[i]))) for i in range(levels - 1)
        )
        self.tail = TunableConv2d(widths[0], channels, 3, p, padding=1, affine=affine)

    @property
    def tiling(self) -> TilingContract:
        levels = len(self.widths)
        radius = 2  # head and tail 3x3 convs
        for i in range(levels - 1):
            step = 2**i
            radius += 2 * 2 * self.blocks[i] * step  # encoder and decoder blocks (2 convs each)
            radius += step  # 2x2 stride-2 down-sampling reaches one more pixel
            radius += step  # pixel-shuffle up-sampling mixes a 2x2 neighbourhood
        radius += 2 * self.blocks[-1] * 2 ** (levels - 1)
        return TilingContract(scale=1, size_multiple=2 ** (levels - 1), receptive_radius=radius, tile_exact=True)

    @torch.no_grad()
    def warm_start_from(self, source: nn.Module) -> None:
        """Take the weights of ``source``, a U-Net with one level fewer, so that this network
        computes exactly what ``source`` computes (a warm start that adds depth).

        ``source``'s levels must match this network's first levels (widths, blocks, ``p``,
        ``affine``, channels), and its bottom must hold twice the blocks of this network's level
        at the same depth: the first half becomes that level's encoder, the second half its
        decoder. The new level (down-sampling, bottom, up-sampling) starts from random weights
        except the up-sampling conv, which starts at zero, so the new level adds nothing until
        training teaches it to. Raises ``ValueError`` when the shapes do not fit.
        """
        if not isinstance(source, TunableUNet):
            raise ValueError(f"cannot grow a U-Net from a {type(source).__name__}")
        depth = len(source.widths)  # index of the new level
        fits = (
            len(self.widths) == depth + 1
            and self.widths[:depth] == source.widths
            and self.blocks[: depth - 1] == source.blocks[:-1]
            and 2 * self.blocks[depth - 1] == source.blocks[-1]
            and (self.p, self.channels) == (source.p, source.channels)
            and (self.head.weight0 is None) == (source.head.weight0 is None)
        )
        if not fits:
            raise ValueError(
                f"cannot grow widths {list(self.widths)} blocks {list(self.blocks)} from widths "
                f"{list(source.widths)} blocks {list(source.blocks)}: it needs one more level, the same "
                "widths and blocks above it, and half the source's bottom blocks on each side of the old bottom"
            )
        shared = [
            "head",
            "tail",
            *(f"{part}.{i}" for part in ("encoders", "downs", "ups", "decoders") for i in range(depth - 1)),
        ]
        for name in shared:
            self.get_submodule(name).load_state_dict(source.get_submodule(name).state_dict())
        half = self.blocks[depth - 1]
        for i in range(half):
            self.encoders[depth - 1][i].load_state_dict(source.bottom[i].state_dict())
            self.decoders[depth - 1][i].load_state_dict(source.bottom[half + i].state_dict())
        for parameter in self.ups[depth - 1].parameters():
            parameter.zero_()

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        # the skip stays in the input's dtype: in half precision only the correction is rounded
        h = self.head(x.to(self.head.weight.dtype), omega)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            h = encoder(h, omega)
            skips.append(h)
            h = down(h, omega)
        h = self.bottom(h, omega)
        for i in reversed(range(len(self.ups))):
            h = self.decoders[i](self.ups[i](h, omega) + skips[i], omega)
        return x + self.tail(h, omega).to(x.dtype)
