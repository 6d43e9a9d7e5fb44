"""The public Python API: load a tunable model once, run it on arrays, images or files.

Example (a notebook)::

    import tunecli.api as tc

    restorer = tc.load("denoise-unet")            # a shipped name or a .safetensors path
    clean = restorer.run(noisy, alpha=0.3)        # numpy (H, W[, C]) in, same dtype/layout out
    image = restorer.run("photo.png", alpha=0.7)  # a path in: a tunecli.imageio.Image out
    image = restorer.run("photo.png", alpha="auto")  # alpha from the estimated noise (denoise, deblur)

The command-line tools are built on :class:`Restorer` (see :mod:`tunecli.runner` for batches).
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tunecli.alpha import AlphaSpace, Omega, ParsedAlpha
from tunecli.alpha_map import (
    SpatialOmega,
    axis_values,
    blend_weights,
    check_mode,
    check_spatial,
    fast_levels,
    omega_of_values,
    resized_values,
)
from tunecli.device import (
    compute_text,
    inference_memory_format,
    precision_name,
    resolve_device,
    resolve_precision,
)
from tunecli.errors import AlphaError, TunecliError, UsageError
from tunecli.estimation.auto_alpha import AutoAlpha, choose_alpha, is_auto
from tunecli.imageio import DEFAULT_MAX_PIXELS, Image, ImageMeta, float_to_samples, read_image, samples_to_float
from tunecli.layers import bake, has_image_statistics, recorded_statistics, shared_statistics
from tunecli.layers.ensemble import DihedralEnsemble
from tunecli.models import LoadedModel, load_model
from tunecli.tensors import batch_to_image, image_to_batch
from tunecli.tiling import TiledOutput, auto_tile, default_batch_size, default_overlap, tile_apply_adaptive

if TYPE_CHECKING:
    from tunecli.tasks import Task

AlphaLike = str | float | Sequence[float] | None
#: What :meth:`Restorer.run` (and restore, restore_map, auto_alpha) take as an image.
ImageLike = np.ndarray | Image | str | Path
TileSpec = int | Literal["auto"]
TileProgress = Callable[[int, int], None]

_BAKED_CACHE = 8
#: A model that is not tile-exact (instance norm: statistics of the whole image) runs on the
#: whole image up to this many pixels; larger images (or any, given ``--tile N``) run in tiles
#: of :data:`NON_EXACT_TILE` px that all share the whole image's statistics, measured in a
#: first pass over the whole image or, beyond this size, pooled over a first pass in the
#: largest tiles that fit it (:func:`tunecli.layers.recorded_statistics`).
NON_EXACT_WHOLE_PIXELS = 4096 * 4096
NON_EXACT_TILE = 2048


@dataclass(frozen=True)
class Restored:
    """One restored image and how it was made.

    ``tile``: tile side used in input pixels (0: whole image); ``precision``: the precision the
    output was computed in (after any float32 retry); ``notices``: one-line remarks for the user;
    ``alpha_auto``: with ``alpha="auto"``, the estimated noise level and the ω it ran at (its
    note line is the first notice).
    """

    image: Image
    tile: int
    precision: str
    notices: tuple[str, ...] = field(default_factory=tuple)
    alpha_auto: AutoAlpha | None = None


class Restorer:
    """A loaded tunable model on a device, ready to run at any alpha.

    For each alpha the kernels are mixed once (:func:`tunecli.layers.bake`) and the baked
    network is reused for every tile and file run at that alpha. With ``ensemble`` every tile is
    restored in its 8 flips/rotations and averaged (:class:`~tunecli.layers.ensemble.DihedralEnsemble`).
    """

    def __init__(
        self,
        model: LoadedModel,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int | None = None,
        ensemble: bool = False,
    ) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self.batch_size = default_batch_size(device) if batch_size is None else batch_size
        self.ensemble = ensemble
        self._baked: OrderedDict[tuple[Omega, torch.dtype], nn.Module] = OrderedDict()
        self._auto_tile: dict[torch.dtype, int] = {}
        self._spatial_nets: dict[torch.dtype, nn.Module] = {}

    # ---- description -------------------------------------------------------------------
    @property
    def alpha_space(self) -> AlphaSpace:
        return self.model.alpha_space

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def scale(self) -> int:
        return self.model.tiling.scale

    @property
    def precision(self) -> str:
        """The requested compute precision: ``fp32``, ``fp16`` or ``bf16``."""
        return precision_name(self.dtype)

    @property
    def compute_text(self) -> str:
        """How the model runs, for a summary line: ``"cpu fp32"``, ``"cuda:0 fp16 · ensemble x8"``."""
        return compute_text(str(self.device), self.precision, self.ensemble)

    # ---- alpha -------------------------------------------------------------------------
    def parse_alpha(self, alpha: AlphaLike) -> ParsedAlpha:
        """Validate a user alpha (text, a number, a vector, or ``None`` for the model default).

        Every form goes through :meth:`AlphaSpace.parse`, so errors and normalization notices
        are those of ``--alpha``; raises :class:`~tunecli.errors.AlphaError`. (``"auto"`` is no
        vector: it depends on the image, see :meth:`auto_alpha`.)
        """
        space = self.alpha_space
        if alpha is None:
            return ParsedAlpha(space.validate(space.default))
        if isinstance(alpha, str):
            return space.parse(alpha)
        if _is_number(alpha):
            return space.parse(repr(float(alpha)))  # type: ignore[arg-type]
        if isinstance(alpha, Sequence | np.ndarray) and all(_is_number(v) for v in alpha):
            return space.parse(",".join(repr(float(v)) for v in alpha))
        raise AlphaError(
            f"alpha must be text such as '0.3', a number, a sequence of numbers or None, not {_kind(alpha)}: "
            f"use {space.allowed_form()}"
        )

    def auto_alpha(self, image: ImageLike, name: str = "the image", alpha: str = "auto") -> AutoAlpha:
        """What ``alpha="auto"`` runs ``image`` at: its estimated noise level (see
        :mod:`tunecli.estimation.noise`) mapped to ω by the model's task, rounded to 0.01.

        ``image``: what :meth:`run` takes (an array, an :class:`~tunecli.imageio.Image`, a path).
        Raises :class:`~tunecli.errors.AlphaError` for a model whose task maps no noise level
        (upscale, style) and :class:`~tunecli.errors.InputImageError` (naming ``name``) for an
        image too small to estimate from. ``alpha``: ``"auto"``, or for a box model one axis
        auto and the others given (``"noise=auto,blur=0.7"``).
        """
        task = self._noise_task()
        fixed = task.fixed_part_of_auto(alpha, self.alpha_space, self.model.name)
        return choose_alpha(as_image(image).pixels, task, self.alpha_space, name, fixed)

    def _checked_omega(self, omega: object) -> Omega:
        """A tuning vector given to :meth:`restore` (a sequence of p numbers in the model's
        domain) as floats, else :class:`~tunecli.errors.AlphaError`."""
        space = self.alpha_space
        if not isinstance(omega, Sequence | np.ndarray) or not all(_is_number(v) for v in omega):
            raise AlphaError(f"omega must be a sequence of {space.p} numbers, not {_kind(omega)}")
        return space.validate(tuple(float(v) for v in omega))

    def _noise_task(self) -> Task:
        """The model's task, if it maps a noise level to this model's alpha (else AlphaError)."""
        from tunecli.tasks import get_task

        task = get_task(self.task)
        task.check_auto(self.alpha_space, self.model.name)
        return task

    def baked(self, omega: Omega, dtype: torch.dtype | None = None) -> nn.Module:
        """The network with kernels mixed at ``omega``, on the device in ``dtype`` (cached)."""
        dtype = dtype or self.dtype
        key = (tuple(omega), dtype)
        if key in self._baked:
            self._baked.move_to_end(key)
            return self._baked[key]
        module = self.model.module
        omega_tensor = torch.tensor(omega, dtype=torch.float32, device=next(module.parameters()).device)
        # kernels are mixed in float32, then the baked copy (never the model) moves to dtype
        layout = inference_memory_format(self.device)
        baked: nn.Module = bake(module, omega_tensor).to(self.device, dtype, memory_format=layout).eval()
        if self.ensemble:
            baked = DihedralEnsemble(baked).eval()
        self._baked[key] = baked
        while len(self._baked) > _BAKED_CACHE:
            self._baked.popitem(last=False)
        return baked

    # ---- running -----------------------------------------------------------------------
    def check_tiling(self, tile: TileSpec, overlap: int | None) -> int:
        """Validate a tile setting; return the overlap in pixels (``None``: what the model's
        tiling contract needs to be exact, see :func:`tunecli.tiling.default_overlap`).

        Raises :class:`~tunecli.errors.UsageError` for a negative overlap, a tile that is not
        ``"auto"``/0/positive, or a tile not larger than the overlap.
        """
        if overlap is None:
            overlap = default_overlap(self.model.tiling)
        elif not isinstance(overlap, numbers.Integral) or isinstance(overlap, bool) or overlap < 0:
            raise UsageError(f"--overlap must be >= 0 (a whole number of pixels), not {overlap!r}")
        if tile != "auto" and (not isinstance(tile, int) or tile < 0):
            raise UsageError(f"--tile must be auto, 0 or a positive number of pixels, not {tile!r}")
        if tile != "auto" and 0 < tile <= overlap:
            raise UsageError(f"--tile ({tile}) must be larger than the overlap ({overlap}; set it with --overlap)")
        return overlap

    def non_exact_tiling(self, tile: TileSpec, height: int, width: int) -> tuple[TileSpec, int | None, str | None]:
        """``(tile, statistics_tile, notice)`` for a model that is not tile-exact, on an image of
        ``height`` × ``width``: ``auto`` (or 0) runs the whole image up to
        :data:`NON_EXACT_WHOLE_PIXELS` (statistics_tile None: nothing shared); beyond it, or
        with an explicit tile size, every tile shares statistics of the whole image, measured
        in one pass over the whole image (statistics_tile 0) or, beyond the limit, pooled over
        a first pass in the largest tiles that fit it (and the notice says so)."""
        pixels = height * width
        if tile == 0 or (tile == "auto" and pixels <= NON_EXACT_WHOLE_PIXELS):
            return 0, None, None
        if tile == "auto":
            tile = NON_EXACT_TILE
        if pixels <= NON_EXACT_WHOLE_PIXELS:
            return tile, 0, None
        multiple = self.model.tiling.size_multiple
        statistics_tile = max(multiple, math.isqrt(NON_EXACT_WHOLE_PIXELS) // multiple * multiple)
        notice = (
            f"{self.model.name} normalizes over the whole image: every {tile}px tile shared statistics "
            f"pooled over a first pass in {statistics_tile}px tiles"
        )
        return tile, statistics_tile, notice

    def tile_size(self, tile: TileSpec, overlap: int, module: nn.Module, dtype: torch.dtype) -> int:
        """Resolve a checked ``tile`` (``"auto"``, 0 or a side in pixels) to a side in pixels
        (0 = whole); ``auto`` probes ``module`` (a baked network in ``dtype``) on CUDA."""
        if tile != "auto":
            return tile
        if dtype not in self._auto_tile:
            self._auto_tile[dtype] = auto_tile(
                module,
                self.model.tiling,
                self.model.channels,
                device=self.device,
                batch_size=self.batch_size,
                overlap=overlap,
            )
        return self._auto_tile[dtype]

    def restore(
        self,
        image: ImageLike,
        omega: Omega | AutoAlpha,
        *,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        progress: TileProgress | None = None,
        omega_map: Tensor | None = None,
    ) -> Restored:
        """Run the model at ``omega`` on ``image`` (an :class:`~tunecli.imageio.Image`, pixels
        float32 ``(H, W, C)`` in [0, 1], or what :meth:`run` takes).

        ``omega_map`` (float32 ``(p, H, W)``, see :meth:`restore_map`): a tuning vector per
        pixel, run exactly (every tunable convolution mixes its outputs per pixel); ``omega``
        then only names the run.

        ``omega``: a tuning vector, or what :meth:`auto_alpha` chose for this image (run at its
        ω and recorded in :attr:`Restored.alpha_auto`). The alpha channel goes around the model
        (resized for ×2/×4 models); a gray image runs through a colour model by replication and
        back, a colour image through a gray model channel by channel. Returns pixels of
        ``(H·scale, W·scale, C)``, clipped to [0, 1] unless the image holds float samples
        (``meta.dtype == "float32"``).
        """
        image = as_image(image)
        chosen = omega if isinstance(omega, AutoAlpha) else None
        omega = self._checked_omega(chosen.omega if chosen is not None else omega)
        contract = self.model.tiling
        overlap = self.check_tiling(tile, overlap)
        pixels = image_to_batch(image.pixels)
        channels, height, width = pixels.shape[1:]
        batch = self._to_model_channels(pixels)
        notices: list[str] = [chosen.describe(self.alpha_space)] if chosen is not None else []
        statistics_tile = None
        if not contract.tile_exact:
            tile, statistics_tile, notice = self.non_exact_tiling(tile, height, width)
            if notice:
                notices.append(notice)
        result, dtype = self._run_tiled(
            batch,
            omega,
            tile=tile,
            overlap=overlap,
            statistics_tile=statistics_tile,
            omega_map=omega_map,
            progress=progress,
            notices=notices,
        )
        restored = self._from_model_channels(result.image, channels)
        if image.meta.dtype != "float32":  # integer samples live in [0, 1]; float data keeps its range
            restored = restored.clamp(0.0, 1.0)
        alpha_channel = image.alpha
        if alpha_channel is not None and contract.scale != 1:
            alpha_channel = _resize_plane(alpha_channel, contract.scale)
        out = Image(
            pixels=batch_to_image(restored),
            alpha=alpha_channel,
            meta=replace(image.meta, notices=list(image.meta.notices)),
        )
        return Restored(out, result.tile, precision_name(dtype), tuple(notices), chosen)

    def _run_tiled(
        self,
        batch: Tensor,
        omega: Omega,
        *,
        tile: TileSpec,
        overlap: int,
        statistics_tile: int | None,
        omega_map: Tensor | None,
        progress: TileProgress | None,
        notices: list[str],
    ) -> tuple[TiledOutput, torch.dtype]:
        """``batch`` float32 ``(B, model channels, H, W)`` through the network at ``omega`` (per
        pixel at ``omega_map``, float32 ``(p, H, W)``) in tiles of ``tile`` (checked, or ``auto``),
        each tile normalized with statistics of the whole image measured in tiles of
        ``statistics_tile`` when that is set (see :meth:`non_exact_tiling`). A half-precision
        output with NaN/Inf is computed again in fp32. Appends a line per such event to
        ``notices``; returns the output (float32 ``(B, C', H·scale, W·scale)`` on the host, with
        the tile side it used) and the dtype it was computed in."""
        contract = self.model.tiling
        dtype = self.dtype
        if omega_map is not None:
            stacked = torch.cat([batch, omega_map[None].expand(batch.shape[0], -1, -1, -1)], dim=1)
        while True:
            module = self.baked(omega, dtype)
            used_tile = self.tile_size(tile, overlap, module, dtype)
            run = partial(
                tile_apply_adaptive,
                module if omega_map is None else SpatialOmega(self._spatial(dtype), batch.shape[1]),
                overlap=overlap,
                scale=contract.scale,
                size_multiple=contract.size_multiple,
                receptive_radius=contract.receptive_radius,
                batch_size=self.batch_size,
                device=self.device,
            )
            # one image (B = 1): every tile normalized with the statistics of the whole image
            if statistics_tile is not None and batch.shape[0] == 1 and has_image_statistics(module):
                with recorded_statistics(module) as statistics:
                    run(batch, tile=statistics_tile)
                with shared_statistics(module, statistics):
                    result = run(batch, tile=used_tile, progress=progress)
            elif omega_map is not None:
                result = run(stacked, tile=used_tile, progress=progress)
            else:
                result = run(batch, tile=used_tile, progress=progress)
            if result.tile != used_tile:
                tried = f"{used_tile}px tiles" if used_tile else "the whole image"
                notices.append(f"out of memory with {tried}; used {result.tile}px tiles")
                if tile == "auto":
                    self._auto_tile[dtype] = result.tile
            if bool(torch.isfinite(result.image).all()):
                return result, dtype
            if dtype == torch.float32:
                raise TunecliError(f"model {self.model.name!r} produced non-finite values (NaN/Inf) on this image")
            notices.append(f"{precision_name(dtype)} output had non-finite values; recomputed in fp32")
            dtype = torch.float32

    def _spatial(self, dtype: torch.dtype) -> nn.Module:
        """The unbaked network on the device in ``dtype``, for per-pixel ω (cached)."""
        if dtype not in self._spatial_nets:  # restore_map checked the layers (check_spatial)
            net = copy.deepcopy(self.model.module).to(self.device, dtype).eval()
            self._spatial_nets[dtype] = net
        return self._spatial_nets[dtype]

    def restore_map(
        self,
        image: ImageLike,
        alpha_map: np.ndarray,
        *,
        mode: str = "exact",
        levels: int = 3,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        progress: TileProgress | None = None,
    ) -> Restored:
        """Run the model with a tuning vector per pixel from ``alpha_map`` (see
        :mod:`tunecli.alpha_map`): float ``(H, W)`` or ``(H, W, C)`` in [0, 1], the image's size
        or resized to it (with a notice). ``mode``: ``"exact"`` (per-pixel ω in every tunable
        convolution) or ``"fast"`` (``levels`` uniform runs per axis, blended per pixel).
        ``image``: what :meth:`run` takes; the result's image is an :class:`~tunecli.imageio.Image`."""
        check_mode(mode)
        image = as_image(image)
        _check_alpha_map(alpha_map)
        if not isinstance(levels, numbers.Integral) or isinstance(levels, bool):
            raise UsageError(f"levels must be a whole number (at least 2), not {_kind(levels)}")
        space = self.alpha_space
        height, width = image.pixels.shape[:2]
        values, resized = resized_values(axis_values(space, alpha_map), height, width)
        notices = (
            [f"alpha map resized from {alpha_map.shape[1]}x{alpha_map.shape[0]} to {width}x{height}"] if resized else []
        )
        per_pixel = torch.from_numpy(values)
        middle = tuple(float(v) for v in per_pixel.mean(dim=(1, 2)))
        label = _omega_at(space, middle)
        if mode == "exact":
            check_spatial(self.model.module, self.model.name)
            if self.ensemble:
                raise UsageError("--ensemble does not combine with an exact alpha map (use --alpha-map-mode fast)")
            done = self.restore(
                image, label, tile=tile, overlap=overlap, progress=progress, omega_map=omega_of_values(space, per_pixel)
            )
            return replace(done, notices=tuple(notices) + done.notices)
        axes = [fast_levels(float(v.min()), float(v.max()), levels) for v in per_pixel]
        weights = [blend_weights(v, grid) for v, grid in zip(per_pixel, axes, strict=True)]
        blended: Tensor | None = None
        last: Restored | None = None
        for combo in itertools.product(*(range(len(grid)) for grid in axes)):
            point = tuple(axes[k][i] for k, i in enumerate(combo))
            omega = _omega_at(space, point)
            weight = torch.ones(height, width)
            for k, i in enumerate(combo):
                weight = weight * weights[k][i]
            if not bool((weight > 0).any()):
                continue
            last = self.restore(image, omega, tile=tile, overlap=overlap)
            out = torch.from_numpy(last.image.pixels)
            if self.scale != 1:
                weight = F.interpolate(weight[None, None], scale_factor=self.scale, mode="bilinear")[0, 0]
            contribution = out * weight[:, :, None]
            blended = contribution if blended is None else blended + contribution
        assert blended is not None and last is not None
        pixels = blended.numpy().astype(np.float32)
        if image.meta.dtype != "float32":
            pixels = np.clip(pixels, 0.0, 1.0)
        runs = int(np.prod([len(grid) for grid in axes]))
        notices.append(f"alpha map, fast mode: {runs} uniform runs blended per pixel")
        out_image = replace(last.image, pixels=pixels)
        return replace(last, image=out_image, notices=tuple(notices) + last.notices)

    def _to_model_channels(self, pixels: Tensor) -> Tensor:
        """``(1, C, H, W)`` image → ``(B, model channels, H, W)`` batch: a gray image replicated
        for a colour model, a colour image as C gray images for a gray model."""
        have, want = pixels.shape[1], self.model.channels
        if have == want:
            return pixels
        if have == 1:
            return pixels.expand(-1, want, -1, -1)
        if want == 1:
            return pixels[0, :, None]
        raise UsageError(f"model {self.model.name!r} takes {want} channels; the image has {have}")

    def _from_model_channels(self, output: Tensor, channels: int) -> Tensor:
        """Inverse of :meth:`_to_model_channels`: ``(B, C', H', W')`` → ``(1, channels, H', W')``."""
        if output.shape[0] == 1 and output.shape[1] == channels:
            return output
        if output.shape[0] == 1 and channels == 1:
            return output[0].mean(dim=0, keepdim=True)[None]
        if output.shape[1] == 1 and output.shape[0] == channels:
            return output[:, 0][None]
        raise TunecliError(
            f"model {self.model.name!r} returned {output.shape[1]} channels for a {channels}-channel image"
        )

    @overload
    def run(
        self,
        image: np.ndarray,
        alpha: AlphaLike = None,
        *,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        alpha_map: np.ndarray | None = None,
        alpha_map_mode: str = "exact",
    ) -> np.ndarray: ...

    @overload
    def run(
        self,
        image: Image | str | Path,
        alpha: AlphaLike = None,
        *,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        alpha_map: np.ndarray | None = None,
        alpha_map_mode: str = "exact",
    ) -> Image: ...

    def run(
        self,
        image: np.ndarray | Image | str | Path,
        alpha: AlphaLike = None,
        *,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        alpha_map: np.ndarray | None = None,
        alpha_map_mode: str = "exact",
    ) -> np.ndarray | Image:
        """Restore an array, an :class:`~tunecli.imageio.Image` or an image file at ``alpha``.

        Arrays are ``(H, W)`` or ``(H, W, C)`` with C = 1, 3 or 4 (the 4th channel is alpha,
        carried around the model); ``uint8``/``uint16`` are scaled by their range, floats must
        lie in [0, 1]. The result has the same dtype and layout, ``scale`` times larger. A path
        is read with :func:`tunecli.imageio.read_image` and an ``Image`` is returned (save it with
        :func:`tunecli.imageio.write_image`).

        ``alpha="auto"`` (denoise and deblur models) picks ω from the image's estimated noise
        level (:meth:`auto_alpha`); a returned ``Image`` then records it: the note line
        (``noise sigma ≈ 17.3 → alpha 0.27``) ends ``meta.notices`` and
        ``meta.extra["alpha_auto"]`` is ``{"sigma": …, "alpha": [ω…]}``.

        ``alpha_map`` (float ``(H, W)`` or ``(H, W, C)`` in [0, 1]; ``alpha`` is then unused):
        a tuning vector per pixel, see :meth:`restore_map` (``alpha_map_mode`` "exact"/"fast").
        """
        omega: Omega | AutoAlpha | None = None
        if alpha_map is None:
            if is_auto(alpha):
                # refused before any file is read, as a bad alpha is
                self._noise_task().fixed_part_of_auto(str(alpha), self.alpha_space, self.model.name)
            else:
                omega = self.parse_alpha(alpha).omega
        source = image
        if alpha_map is not None:
            _check_alpha_map(alpha_map)
        image = as_image(source)
        if alpha_map is not None:
            mapped = self.restore_map(image, alpha_map, mode=alpha_map_mode, tile=tile, overlap=overlap)
            if isinstance(source, np.ndarray):
                return _array_from_image(mapped.image, source.dtype, source.ndim)
            return mapped.image
        if omega is None:
            omega = self.auto_alpha(image, str(source) if isinstance(source, str | Path) else "the image", str(alpha))
        restored = self.restore(image, omega, tile=tile, overlap=overlap)
        if isinstance(source, np.ndarray):
            return _array_from_image(restored.image, source.dtype, source.ndim)
        out = restored.image
        if restored.alpha_auto is not None:
            out.meta.notices.append(restored.notices[0])
            out.meta.extra = {**out.meta.extra, "alpha_auto": restored.alpha_auto.to_json()}
        return out


def load(
    name_or_path: str | Path,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    ensemble: bool = False,
) -> Restorer:
    """Load a shipped model by name, or a ``.safetensors`` checkpoint by path, onto a device.

    ``device``: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda[:i]`` or ``mps``;
    ``precision``: ``auto`` (fp16 on a GPU, fp32 on CPU), ``fp32``, ``fp16`` or ``bf16``;
    ``batch_size``: tiles per forward pass (default: 1 on a CPU, 4 on a GPU); ``ensemble``:
    average the 8 flips/rotations of every tile (8x the compute, a little more fidelity).
    Raises a :class:`~tunecli.errors.TunecliError`.
    """
    if not isinstance(name_or_path, str | Path):
        raise UsageError(f"expected a model name or a .safetensors path, not {_kind(name_or_path)}")
    for label, value in (("device", device), ("precision", precision)):
        if not isinstance(value, str):
            raise UsageError(f"{label} must be text such as 'auto', not {_kind(value)}")
    if not isinstance(ensemble, bool):
        raise UsageError(f"ensemble must be True or False, not {_kind(ensemble)}")
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    if batch_size is not None and (
        not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1
    ):
        raise UsageError(f"batch size must be >= 1 (a whole number), not {batch_size!r}")
    model = load_model(name_or_path, device=str(torch_device))
    return Restorer(model, torch_device, dtype, batch_size, ensemble)


# ---- arrays <-> images (the API's convenience layer; files go through tunecli.imageio) ----------


_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _omega_at(space: AlphaSpace, values: Sequence[float]) -> Omega:
    """ω for one point of an alpha map's axis values (see :func:`tunecli.alpha_map.axis_values`)."""
    return space.validate(tuple(float(v) for v in omega_of_values(space, torch.tensor(values)[:, None, None])[:, 0, 0]))


def as_image(image: ImageLike) -> Image:
    """An image as :meth:`Restorer.run` takes it — an array (see :func:`_image_from_array`), an
    :class:`~tunecli.imageio.Image`, or a file path (read with the default pixel limit) — as an
    ``Image``; anything else is a :class:`~tunecli.errors.UsageError`."""
    if isinstance(image, Image):
        return image
    if isinstance(image, np.ndarray):
        return _image_from_array(image)
    if isinstance(image, str | Path):
        return read_image(Path(image), max_pixels=DEFAULT_MAX_PIXELS)
    raise UsageError(f"expected an image as a numpy array, a tunecli.imageio.Image or a file path, not {_kind(image)}")


def _is_number(value: object) -> bool:
    """A real number (numpy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _kind(value: object) -> str:
    """How an error names a wrong argument: its type, and its value when that is plain and short."""
    text = repr(value)
    plain = isinstance(value, str | int | float | list | tuple | dict | type(None))
    return f"{type(value).__name__} {text}" if plain and len(text) <= 40 and "\n" not in text else type(value).__name__


def _check_alpha_map(alpha_map: object) -> None:
    """Refuse an alpha map that is not a float array (its shape and range are checked by
    :func:`tunecli.alpha_map.axis_values`)."""
    if not isinstance(alpha_map, np.ndarray) or not np.issubdtype(alpha_map.dtype, np.floating):
        kind = f"an array of {alpha_map.dtype}" if isinstance(alpha_map, np.ndarray) else _kind(alpha_map)
        raise UsageError(f"the alpha map must be a float array (H, W) or (H, W, C) in [0, 1], not {kind}")


def _image_from_array(array: np.ndarray) -> Image:
    """An ``(H, W)`` or ``(H, W, C)`` array (C = 1–4; uint8, uint16 or float, finite) as an Image."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise UsageError(f"expected an (H, W) or (H, W, C) array with C in 1..4, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise UsageError(f"expected an image of at least 1x1 pixels, got shape {array.shape}")
    if array.dtype in (np.uint8, np.uint16):
        dtype = str(array.dtype)
    elif np.issubdtype(array.dtype, np.floating):
        dtype = "float32"
        if not np.isfinite(array).all():
            raise UsageError("the array holds NaN or infinite samples")
    else:
        raise UsageError(f"expected a uint8, uint16 or float array, got {array.dtype}")
    values = samples_to_float(array)
    channels = array.shape[2]
    has_alpha = channels in (2, 4)
    colour = values[:, :, : channels - 1] if has_alpha else values
    meta = ImageMeta(format="array", dtype=dtype, mode=_MODES[channels])
    alpha = values[:, :, -1].copy() if has_alpha else None
    return Image(pixels=np.ascontiguousarray(colour), alpha=alpha, meta=meta)


def _array_from_image(image: Image, dtype: np.dtype, ndim: int) -> np.ndarray:
    planes = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[:, :, None]], axis=2)
    samples = float_to_samples(planes, str(dtype)) if dtype in (np.uint8, np.uint16) else planes.astype(dtype)
    return samples[:, :, 0] if ndim == 2 else samples


def _resize_plane(plane: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic ×``scale`` of a float32 ``(H, W)`` plane in [0, 1] (the alpha channel)."""
    tensor = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    resized = F.interpolate(tensor, scale_factor=scale, mode="bicubic", align_corners=False)
    return resized[0, 0].clamp_(0.0, 1.0).numpy()
