"""Seam-free tiled inference (SPEC §8): the whole image on the host, tiles on the device.

:func:`tile_apply` is a pure function of (model function, image, tile geometry): it pads the
image to the model's size multiple, cuts tiles whose origins lie on that multiple, runs them in
batches on the device and blends the outputs on the host with a raised-cosine window.

Why the window looks the way it does: an output pixel closer than ``receptive_radius`` to a tile
edge saw the tile's zero padding instead of its real neighbours, so it gets weight 0; the
raised-cosine ramp lies in the middle of each overlap, where both neighbouring tiles are exact.
With ``overlap >= 2 * receptive_radius`` a tile-exact model therefore gives the whole-image
result up to float rounding. Sides on the image border keep weight 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tunecli.archs.registry import TilingContract
from tunecli.errors import DeviceError

ModelFn = Callable[[Tensor], Tensor]
TileProgress = Callable[[int, int], None]

#: Largest tile side of ``--tile auto`` on a CPU, unless four overlaps are wider: a convolution
#: network's activations for a tile this size stay in cache, and per pixel a 512 px tile ran
#: 1.5x faster than a whole 2048x2048 image on the 2-core CI machine (README, "Tiles").
CPU_AUTO_TILE = 512
#: Tile side of ``--tile auto`` on MPS, whose free memory cannot be measured.
MPS_AUTO_TILE = 1024
#: Extra overlap beyond the exact margins, so neighbouring tiles cross-fade smoothly.
BLEND_RAMP = 16
_PROBE_SIDE = 256
_MAX_AUTO_TILE = 4096


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def default_overlap(contract: TilingContract) -> int:
    """The overlap that makes tiles of a tile-exact model exact, plus a short blending ramp.

    In input pixels, a multiple of ``contract.size_multiple``.
    """
    return _round_up(2 * contract.receptive_radius + BLEND_RAMP, contract.size_multiple)


def fitted_tile(length: int, tile: int, overlap: int, multiple: int) -> int:
    """The smallest tile side (a multiple of ``multiple``, at most ``tile``) that covers ``length``
    with as few tiles as ``tile`` itself needs, so the overlap is not wider than it must be.

    2048 pixels with 1024-pixel tiles and an overlap of 88 need 3 tiles per axis; tiles of 744
    pixels cover them just as well with 1.8 times fewer pixels to compute.
    """
    count = tile_count(length, tile, overlap)
    if count == 1:
        return length
    return min(_round_up(math.ceil((length + (count - 1) * overlap) / count), multiple), tile)


def tile_count(length: int, tile: int, overlap: int) -> int:
    """How many tiles of side ``tile`` overlapping by at least ``overlap`` cover ``length``.

    Raises ``ValueError`` when more than one tile is needed and ``tile`` is not larger than
    ``overlap``.
    """
    if tile >= length:
        return 1
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    return math.ceil((length - overlap) / (tile - overlap))


def tile_origins(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` with at least ``overlap``.

    ``length``, ``tile`` and ``overlap`` are multiples of ``multiple``, and so is every origin;
    origins are spread as evenly as that grid allows, the last one is ``length - tile``.
    """
    count = tile_count(length, tile, overlap)
    if count == 1:
        return [0]
    units = (length - tile) // multiple
    return [multiple * round(i * units / (count - 1)) for i in range(count)]


def _ramp_up(length: int) -> Tensor:
    """Raised cosine rising over ``length`` samples, strictly inside (0, 1); ``up + up.flip() == 1``."""
    k = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(math.pi * (k + 0.5) / length)).float()


def _axis_windows(origins: list[int], tile: int, ramp: int, scale: int) -> list[Tensor]:
    """One output-resolution weight profile per tile along an axis (length ``tile * scale``).

    Between neighbours the ramp is centred in their actual overlap, so the two profiles add up
    to exactly 1 there; before and after it they are 1 and 0.
    """
    windows = []
    for i, origin in enumerate(origins):
        window = torch.ones(tile * scale)
        if i > 0:
            shared = origins[i - 1] + tile - origin
            start = ((shared - ramp) // 2) * scale
            window[:start] = 0
            window[start : start + ramp * scale] *= _ramp_up(ramp * scale)
        if i < len(origins) - 1:
            shared = origin + tile - origins[i + 1]
            start = (origins[i + 1] - origin + (shared - ramp) // 2) * scale
            window[start : start + ramp * scale] *= _ramp_up(ramp * scale).flip(0)
            window[start + ramp * scale :] = 0
        windows.append(window)
    return windows


@dataclass(frozen=True)
class _TileGrid:
    """Where the tiles of a padded image lie and how each weighs in the blend: origins ``ys``
    and ``xs`` and sides ``tile_h`` × ``tile_w`` in input pixels, and one output-resolution
    weight profile per tile row (``y_windows``) and column (``x_windows``); outputs are
    ``scale`` times the input size."""

    ys: list[int]
    xs: list[int]
    tile_h: int
    tile_w: int
    y_windows: list[Tensor]
    x_windows: list[Tensor]
    scale: int

    def window(self, iy: int, ix: int) -> Tensor:
        """The blending weight of tile ``(iy, ix)``: float32 ``(tile_h·scale, tile_w·scale)``."""
        return self.y_windows[iy][:, None] * self.x_windows[ix][None, :]

    def coverage(self, padded_h: int, padded_w: int) -> Tensor:
        """The sum of every tile's window over the padded output, float32
        ``(padded_h·scale, padded_w·scale)``: what the blended sum is divided by."""
        s = self.scale
        weight = torch.zeros(padded_h * s, padded_w * s)
        for iy, y0 in enumerate(self.ys):
            for ix, x0 in enumerate(self.xs):
                region = weight[y0 * s : (y0 + self.tile_h) * s, x0 * s : (x0 + self.tile_w) * s]
                region += self.window(iy, ix)
        return weight


def _tile_grid(
    padded_h: int, padded_w: int, *, tile: int, overlap: int, size_multiple: int, receptive_radius: int, scale: int
) -> _TileGrid:
    """The tiles of :func:`tile_apply` over a padded ``padded_h`` × ``padded_w`` image (both
    multiples of ``size_multiple``, as ``overlap`` is; ``tile`` 0: one tile): sides fitted to the
    image (:func:`fitted_tile`), and windows with weight 0 on the ``receptive_radius`` pixels
    at inner edges (at most half the overlap) and a raised-cosine ramp over the rest."""
    side = _round_up(tile, size_multiple) if tile else max(padded_h, padded_w)
    tile_h = fitted_tile(padded_h, side, overlap, size_multiple)
    tile_w = fitted_tile(padded_w, side, overlap, size_multiple)
    ys = tile_origins(padded_h, tile_h, overlap, size_multiple)
    xs = tile_origins(padded_w, tile_w, overlap, size_multiple)
    margin = min(receptive_radius, overlap // 2)
    ramp = overlap - 2 * margin
    y_windows = _axis_windows(ys, tile_h, ramp, scale)
    x_windows = _axis_windows(xs, tile_w, ramp, scale)
    return _TileGrid(ys, xs, tile_h, tile_w, y_windows, x_windows, scale)


def pad_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right to multiples of ``multiple``.

    Reflect padding, or replicate where the image is too small to reflect (pad >= side).
    """
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode)


def tile_apply(
    model_fn: ModelFn,
    image: Tensor,
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    size_multiple: int = 1,
    receptive_radius: int = 0,
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    progress: TileProgress | None = None,
) -> Tensor:
    """Run ``model_fn`` over ``image`` tile by tile and blend the tiles seamlessly.

    ``image``: float32 ``(C, H, W)`` or ``(B, C, H, W)`` on the host. ``model_fn`` maps a
    float32 ``(b, C, h, w)`` batch on ``device`` (``h``, ``w`` multiples of
    ``size_multiple``) to ``(b, C', h·scale, w·scale)``. ``tile`` is the largest tile side in input
    pixels (0: the whole image in one piece; tiles shrink to :func:`fitted_tile` along each
    axis) and ``overlap`` the minimum overlap between
    neighbouring tiles; both are rounded up to ``size_multiple``. ``receptive_radius`` input
    pixels at inner tile edges get weight 0. ``progress(done, total)`` is called after each batch.

    Returns float32 ``(C', H·scale, W·scale)`` (or ``(B, C', …)``) on the host. Raises
    ``ValueError`` for a tile not larger than the overlap; device out-of-memory errors propagate
    (see :func:`tile_apply_adaptive`).
    """
    if image.dim() not in (3, 4):
        raise ValueError(f"image must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
    if tile < 0 or overlap < 0 or scale < 1 or size_multiple < 1 or batch_size < 1:
        raise ValueError("tile and overlap must be >= 0; scale, size_multiple and batch_size >= 1")
    single = image.dim() == 3
    batch = image[None] if single else image
    batch = batch.to(dtype=torch.float32, device="cpu")
    height, width = batch.shape[-2:]
    padded = pad_to_multiple(batch, size_multiple)
    padded_h, padded_w = padded.shape[-2:]
    grid = _tile_grid(
        padded_h,
        padded_w,
        tile=tile,
        overlap=_round_up(overlap, size_multiple),
        size_multiple=size_multiple,
        receptive_radius=receptive_radius,
        scale=scale,
    )
    ys, xs, tile_h, tile_w = grid.ys, grid.xs, grid.tile_h, grid.tile_w
    jobs = [(b, iy, ix) for b in range(padded.shape[0]) for iy in range(len(ys)) for ix in range(len(xs))]
    output: Tensor | None = None
    weight = grid.coverage(padded_h, padded_w)
    device = torch.device(device)
    with torch.inference_mode():
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            crops = torch.stack(
                [padded[b, :, ys[iy] : ys[iy] + tile_h, xs[ix] : xs[ix] + tile_w] for b, iy, ix in chunk]
            )
            # float32 whatever the weights: a half-precision network rounds only its correction
            result = model_fn(crops.to(device=device, non_blocking=True))
            expected = (len(chunk), tile_h * scale, tile_w * scale)
            if result.dim() != 4 or (result.shape[0], *result.shape[2:]) != expected:
                raise ValueError(
                    f"model returned shape {tuple(result.shape)} for input {tuple(crops.shape)} at scale {scale}"
                )
            result = result.to(device="cpu", dtype=torch.float32)
            if output is None:
                output = torch.zeros(padded.shape[0], result.shape[1], padded_h * scale, padded_w * scale)
            for (b, iy, ix), piece in zip(chunk, result, strict=True):
                y0, x0 = ys[iy] * scale, xs[ix] * scale
                region = output[b, :, y0 : y0 + tile_h * scale, x0 : x0 + tile_w * scale]
                region += piece * grid.window(iy, ix)
            if progress is not None:
                progress(min(start + batch_size, len(jobs)), len(jobs))
        assert output is not None  # at least one tile always exists
        output /= weight
    output = output[:, :, : height * scale, : width * scale].clone()
    return output[0] if single else output


def is_out_of_memory(error: BaseException) -> bool:
    """True for a device out-of-memory error (CUDA raises its own type, MPS a RuntimeError)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


@dataclass(frozen=True)
class TiledOutput:
    """The blended output of :func:`tile_apply_adaptive` and the tile side it ended up using
    (0: the whole image ran in one piece)."""

    image: Tensor
    tile: int


def tile_apply_adaptive(
    model_fn: ModelFn,
    image: Tensor,
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    size_multiple: int = 1,
    receptive_radius: int = 0,
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    progress: TileProgress | None = None,
) -> TiledOutput:
    """:func:`tile_apply` that halves the tile (and then the batch) on device out-of-memory.

    Raises :class:`~tunecli.errors.DeviceError` when even the smallest tile does not fit.
    """
    device = torch.device(device)
    overlap = _round_up(overlap, size_multiple)
    smallest = _round_up(2 * overlap + size_multiple, size_multiple)
    while True:
        try:
            output = tile_apply(
                model_fn,
                image,
                tile=tile,
                overlap=overlap,
                scale=scale,
                size_multiple=size_multiple,
                receptive_radius=receptive_radius,
                batch_size=batch_size,
                device=device,
                progress=progress,
            )
            return TiledOutput(output, tile)
        except (torch.OutOfMemoryError, RuntimeError) as err:
            if not is_out_of_memory(err):
                raise
            _free_device_memory(device)
        if batch_size > 1:
            batch_size = 1
            continue
        current = tile or max(image.shape[-2:])
        halved = (current // 2) // size_multiple * size_multiple
        if halved < smallest:
            raise DeviceError(
                f"out of memory on {device} even with {current}px tiles; try --device cpu or --precision fp16"
            )
        tile = halved


def default_batch_size(device: torch.device | str) -> int:
    """Tiles per forward pass when the caller does not say: 1 on a CPU, where one tile's
    activations stay in cache (4 tiles at once ran 1.1-1.4x slower per pixel), 4 on a GPU."""
    return 1 if torch.device(device).type == "cpu" else 4


def auto_tile(
    model_fn: ModelFn,
    contract: TilingContract,
    channels: int,
    *,
    device: torch.device | str,
    batch_size: int = 1,
    overlap: int = 0,
) -> int:
    """Tile side for ``--tile auto``: on CUDA from a probe run and half the free memory, on MPS
    :data:`MPS_AUTO_TILE`, on a CPU :data:`CPU_AUTO_TILE` or four overlaps if wider (so the
    overlap costs at most about 1.8x the pixels). Always a multiple of the size multiple and
    larger than ``2 * overlap``."""
    device = torch.device(device)
    multiple = contract.size_multiple
    floor = _round_up(2 * overlap + multiple, multiple)
    if device.type == "mps":
        return max(_round_up(MPS_AUTO_TILE, multiple), floor)
    if device.type != "cuda":
        return max(_round_up(CPU_AUTO_TILE, multiple), _round_up(4 * overlap, multiple), floor)
    side = _round_up(_PROBE_SIDE, multiple)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    baseline = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        model_fn(torch.zeros(1, channels, side, side, device=device))
    torch.cuda.synchronize(device)
    per_pixel = max(torch.cuda.max_memory_allocated(device) - baseline, 1) / (side * side)
    free, _ = torch.cuda.mem_get_info(device)
    pixels = 0.5 * free / (per_pixel * batch_size)
    chosen = int(math.sqrt(pixels)) // multiple * multiple
    return max(min(chosen, _MAX_AUTO_TILE), floor)
