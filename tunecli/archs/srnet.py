"""Tunable super-resolution network: EDSR-style residual blocks, a pixel-shuffle or resize+conv upsampler.

Every convolution is a dense tunable 3x3 conv (fast on CPUs, see :mod:`tunecli.archs.unet`); the
body runs at the low resolution, the upsampler doubles the size per stage (×2: one stage, ×4:
two, ×3: one ×3 stage), and the output adds the network's correction to a bicubic upscale of
the input, so an untrained correction of zero is already the bicubic baseline. Only local
operations: tile-exact.

Three upsamplers (the ``upsampler`` hyper-parameter):

- ``"shuffle"`` (the default here, so that checkpoints made before ``"nearest"`` load as they
  were; ``tunecli train upscale`` picks ``"bilinear"``): per stage a conv to ``factor²·width``
  channels at the lower resolution, a pixel shuffle and a ReLU (EDSR's). Each output pixel of a stage comes from its
  own slice of kernels, so an imperfectly trained net leaves a period-``factor`` checkerboard.
- ``"nearest"``: per stage a nearest-neighbour resize by ``factor`` and a ``width → width`` conv
  with a LeakyReLU(0.2) at the higher resolution (ESRGAN's and Real-ESRGAN's): every output
  pixel is computed by the same kernels, so no grid. The same multiply count per stage (a
  ``width → width`` conv on ``factor²`` times the pixels), 1/``factor²`` of its parameters.
- ``"bilinear"``: the same with a bilinear resize (half-pixel centres). A nearest resize repeats
  each feature ``factor``² times, a period-``factor`` pattern that the conv after it must undo;
  a net trained on a perceptual objective leaves some of it as a faint dot texture at the
  output's 4-px lattice (×4). Bilinear interpolation has no such pattern. Same parameters and
  multiply count as ``"nearest"`` (a checkpoint of one warm-starts the other whole), a receptive
  radius 1 px larger (×2, ×4).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from tunecli.archs.registry import TilingContract, TunableNet, register_arch
from tunecli.archs.unet import ResBlock
from tunecli.layers import TunableConv2d, TunableSequential

SCALES = (2, 3, 4)
UPSAMPLERS = ("shuffle", "nearest", "bilinear")
#: the upsamplers that resize, then convolve: their weights have the same shapes
_RESIZE = ("nearest", "bilinear")


@register_arch("srnet", "tunable EDSR-style residual net with a pixel-shuffle or resize+conv upsampler (upscale)")
class TunableSRNet(TunableNet):
    """``(B, channels, H, W)`` float in [0, 1] → ``(B, channels, H·scale, W·scale)``.

    ``width`` features in ``blocks`` residual blocks at the input resolution; ``scale`` in
    (2, 3, 4); ``upsampler`` ``"shuffle"`` or ``"nearest"`` (see the module doc). The output is
    unclipped (the runtime clips integer images).
    """

    def __init__(
        self,
        channels: int = 3,
        width: int = 48,
        blocks: int = 8,
        scale: int = 4,
        p: int = 2,
        affine: bool = False,
        upsampler: str = "shuffle",
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {scale}")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, not {upsampler!r}")
        if width < 1 or blocks < 0:
            raise ValueError("width must be >= 1 and blocks >= 0")
        self.p, self.channels, self.width, self.blocks, self.upscale = p, channels, width, blocks, scale
        self.upsampler_kind = upsampler
        self.head = TunableConv2d(channels, width, 3, p, padding=1, affine=affine)
        self.body = TunableSequential(
            *(ResBlock(width, p, affine) for _ in range(blocks)),
            TunableConv2d(width, width, 3, p, padding=1, affine=affine),
        )
        self.stages = [2, 2] if scale == 4 else [scale]
        if upsampler == "shuffle":
            parts = [
                (
                    TunableConv2d(width, width * factor * factor, 3, p, padding=1, affine=affine),
                    nn.PixelShuffle(factor),
                    nn.ReLU(inplace=True),
                )
                for factor in self.stages
            ]
        else:
            parts = [
                (
                    nn.Upsample(scale_factor=factor, mode="nearest")
                    if upsampler == "nearest"
                    else nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False),
                    TunableConv2d(width, width, 3, p, padding=1, affine=affine),
                    nn.LeakyReLU(0.2, inplace=True),
                )
                for factor in self.stages
            ]
        self.upsampler = TunableSequential(*(part for stage in parts for part in stage))
        self.tail = TunableConv2d(width, channels, 3, p, padding=1, affine=affine)

    def warm_start_from(self, source: nn.Module) -> None:
        """Take the weights of ``source``, an srnet of the same width, blocks, channels and ``p``
        that upscales by another factor (a ×2 model warm-started from the ×4 one, or back) or
        with the other upsampler (a nearest+conv student from a pixel-shuffle model).

        The head and body always carry over; with the same upsampler also the tail and the first
        upsampling stage's conv when its shape matches (×2 ↔ ×4: each stage doubles). The stages
        only one side has, and the whole upsampler and tail across upsamplers, start from their
        fresh initialization, so the result is a warm start, not the source's function. Raises
        ``ValueError`` when the nets differ in anything but the scale and the upsampler."""
        if not isinstance(source, TunableSRNet):
            raise ValueError(f"cannot warm-start an srnet from a {type(source).__name__}")
        mine = (self.width, self.blocks, self.channels, self.p, self.head.weight0 is None)
        theirs = (source.width, source.blocks, source.channels, source.p, source.head.weight0 is None)
        if mine != theirs:
            raise ValueError(
                f"cannot warm-start width {self.width}, {self.blocks} blocks from width {source.width}, "
                f"{source.blocks} blocks: only the scale may differ (or the upsampler)"
            )
        for name in ("head", "body"):
            self.get_submodule(name).load_state_dict(source.get_submodule(name).state_dict())
        if {source.upsampler_kind, self.upsampler_kind} <= set(_RESIZE) and source.upscale == self.upscale:
            self.load_state_dict(source.state_dict())  # nearest <-> bilinear: every weight fits
            return
        if source.upsampler_kind != self.upsampler_kind:
            return
        self.tail.load_state_dict(source.tail.state_dict())
        first, source_first = (next(m for m in net.upsampler if isinstance(m, TunableConv2d)) for net in (self, source))
        if first.weight.shape == source_first.weight.shape:
            first.load_state_dict(source_first.state_dict())

    @property
    def tiling(self) -> TilingContract:
        if self.upsampler_kind == "shuffle":
            # input pixels each side: head 1, two per block, the body's last conv 1, one per
            # upsampling stage and the tail (each reaches at most one input pixel at its
            # resolution; an upper bound, kept as the shipped models declare it), bicubic 2
            radius = 1 + 2 * self.blocks + 1 + len(self.stages) + 1
        else:
            radius = 1 + 2 * self.blocks + 1 + _resize_upsampler_radius(self.stages, self.upsampler_kind)
        return TilingContract(scale=self.upscale, size_multiple=1, receptive_radius=max(radius, 2), tile_exact=True)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        h = self.head(x.to(self.head.weight.dtype), omega)
        h = h + self.body(h, omega)
        correction = self.tail(self.upsampler(h, omega), omega)
        base = F.interpolate(x, scale_factor=self.upscale, mode="bicubic", align_corners=False)
        return base + correction.to(x.dtype)


def _resize_upsampler_radius(stages: list[int], kind: str) -> int:
    """Input pixels each side that the resize+conv upsampler and the tail reach, exactly.

    Walked back from the output: the tail's 3x3 conv reaches 1 pixel at the output resolution;
    per stage, last first, its conv adds 1 pixel at that stage's output resolution, and its
    resize by ``f`` turns a reach of ``r`` pixels into :func:`_resize_reach` input pixels.
    Nearest ×2, ×3, ×4: 1; bilinear ×2, ×4: 2, ×3: 1 (an odd factor centres the middle output
    pixel of a cell on its input pixel).
    """
    reach = 1  # the tail
    for factor in reversed(stages):
        reach = _resize_reach(reach + 1, factor, kind)
    return reach


def _resize_reach(reach: int, factor: int, kind: str) -> int:
    """How far (input pixels) from input pixel ``c`` the output pixels within ``reach`` of any
    output pixel of ``c``'s cell read, the worst case over the ``factor`` positions in the cell.

    A nearest resize's output pixel ``q`` reads input ``q // factor``; a bilinear one (half-pixel
    centres) reads ``floor(u)`` and, unless ``u`` is a whole number, ``floor(u) + 1``, where
    ``u = (q + ½) / factor − ½``: computed in integers as ``(2q + 1 − factor) / (2·factor)``."""
    worst = 0
    for offset in range(factor):  # q = offset: an output pixel of input pixel 0's cell
        for q in range(offset - reach, offset + reach + 1):
            if kind == "nearest":
                reads = [q // factor]
            else:
                low, rest = divmod(2 * q + 1 - factor, 2 * factor)
                reads = [low, low + 1] if rest else [low]
            worst = max(worst, *(abs(r) for r in reads))
    return worst
