"""Tunable super-resolution network: EDSR-style residual blocks and a pixel-shuffle upsampler.

Every convolution is a dense tunable 3x3 conv (fast on CPUs, see :mod:`tunecli.archs.unet`); the
body runs at the low resolution, the upsampler doubles the size per stage (×2: one stage, ×4:
two, ×3: one ×3 stage), and the output adds the network's correction to a bicubic upscale of
the input, so an untrained correction of zero is already the bicubic baseline. Only local
operations: tile-exact.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from tunecli.archs.registry import TilingContract, TunableNet, register_arch
from tunecli.archs.unet import ResBlock
from tunecli.layers import TunableConv2d, TunableSequential

SCALES = (2, 3, 4)


@register_arch("srnet", "tunable EDSR-style residual net with a pixel-shuffle upsampler (upscale)")
class TunableSRNet(TunableNet):
    """``(B, channels, H, W)`` float in [0, 1] → ``(B, channels, H·scale, W·scale)``.

    ``width`` features in ``blocks`` residual blocks at the input resolution; ``scale`` in
    (2, 3, 4). The output is unclipped (the runtime clips integer images).
    """

    def __init__(
        self,
        channels: int = 3,
        width: int = 48,
        blocks: int = 8,
        scale: int = 4,
        p: int = 2,
        affine: bool = False,
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {scale}")
        if width < 1 or blocks < 0:
            raise ValueError("width must be >= 1 and blocks >= 0")
        self.p, self.channels, self.width, self.blocks, self.upscale = p, channels, width, blocks, scale
        self.head = TunableConv2d(channels, width, 3, p, padding=1, affine=affine)
        self.body = TunableSequential(
            *(ResBlock(width, p, affine) for _ in range(blocks)),
            TunableConv2d(width, width, 3, p, padding=1, affine=affine),
        )
        stages = [2, 2] if scale == 4 else [scale]
        self.upsampler = TunableSequential(
            *(
                part
                for factor in stages
                for part in (
                    TunableConv2d(width, width * factor * factor, 3, p, padding=1, affine=affine),
                    nn.PixelShuffle(factor),
                    nn.ReLU(inplace=True),
                )
            )
        )
        self.tail = TunableConv2d(width, channels, 3, p, padding=1, affine=affine)

    def warm_start_from(self, source: nn.Module) -> None:
        """Take the weights of ``source``, an srnet of the same width, blocks, channels and ``p``
        that upscales by another factor (a ×2 model warm-started from the ×4 one, or back).

        The head, body, tail and the first upsampling stage carry over when their shapes match
        (×2 ↔ ×4: each stage doubles); the stages only one side has start from their fresh
        initialization, so the result is a warm start, not the source's function. Raises
        ``ValueError`` when the nets differ in anything but the scale."""
        if not isinstance(source, TunableSRNet):
            raise ValueError(f"cannot warm-start an srnet from a {type(source).__name__}")
        mine = (self.width, self.blocks, self.channels, self.p, self.head.weight0 is None)
        theirs = (source.width, source.blocks, source.channels, source.p, source.head.weight0 is None)
        if mine != theirs:
            raise ValueError(
                f"cannot warm-start width {self.width}, {self.blocks} blocks from width {source.width}, "
                f"{source.blocks} blocks: only the scale may differ"
            )
        for name in ("head", "body", "tail"):
            self.get_submodule(name).load_state_dict(source.get_submodule(name).state_dict())
        first, source_first = self.upsampler[0], source.upsampler[0]
        if first.weight.shape == source_first.weight.shape:
            first.load_state_dict(source_first.state_dict())

    @property
    def tiling(self) -> TilingContract:
        # input pixels each side: head 1, two per block, the body's last conv 1, one per upsampling
        # stage and the tail (each reaches at most one input pixel at its resolution), bicubic 2
        stages = 2 if self.upscale == 4 else 1
        radius = 1 + 2 * self.blocks + 1 + stages + 1
        return TilingContract(scale=self.upscale, size_multiple=1, receptive_radius=max(radius, 2), tile_exact=True)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        h = self.head(x.to(self.head.weight.dtype), omega)
        h = h + self.body(h, omega)
        correction = self.tail(self.upsampler(h, omega), omega)
        base = F.interpolate(x, scale_factor=self.upscale, mode="bicubic", align_corners=False)
        return base + correction.to(x.dtype)
