"""The engine side of ``tunecli tune``: view regions and Save, through :class:`tunecli.api.Restorer`.

A view region is computed from the full-resolution image with the baked network of its alpha
(:meth:`Restorer.baked` caches the kernels) — a tile-exact model on the region's
:func:`~tunecli.tune.regions.context_crop`, any other model on the whole image (its
normalization sees the whole image, as in a file run), kept for the next regions at that alpha.
One computation runs at a time (the CPU has no room for two); of the view requests that arrive
meanwhile only the newest runs (:class:`LatestOnly`), and a running one that a newer request
supersedes stops at its next layer. Save renders the whole image through
:func:`tunecli.runner.run_batch`, so the output is named and written exactly as
``tunecli TASK --alpha …`` would write it.

No HTTP here (see :mod:`tunecli.tune.server`) and nothing printed (the CLI renders).
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from torch import nn

from tunecli.alpha import Omega
from tunecli.api import Restorer
from tunecli.errors import OutputError, TunecliError
from tunecli.gallery.grid import to_rgb8
from tunecli.imageio import Image
from tunecli.runner import FileResult, Job, OutputOptions, plan_jobs, run_batch
from tunecli.tune.command import CommandLine, alpha_text
from tunecli.tune.regions import Region, checked_region, context_crop

T = TypeVar("T")

#: A tile-exact region's crop runs as one piece up to this many pixels (tiles beyond).
WHOLE_CROP_PIXELS = 4 * 1024 * 1024
#: Output side, in pixels, of the regions the page fills the photo with (see :meth:`TuneSession.info`).
FILL_SIDE = 512
#: Whole-image renders kept for a model that is not tile-exact (one per alpha).
_WHOLE_CACHE = 2


class Superseded(Exception):
    """A view render that a newer request replaced (or the server is stopping); never shown
    to a user. Not a :class:`RuntimeError`, which the tiling engine reads as out-of-memory."""


class LatestOnly:
    """One computation at a time; of the view renders waiting for it only the newest runs.

    Requests are numbered as they arrive (:meth:`arrive`). :meth:`run_view` raises
    :class:`Superseded` for a request that a newer one overtook, at once or while waiting;
    :attr:`cancelled` tells a running view render that it was overtaken, so it can stop.
    :meth:`run_exclusive` (Save) waits its turn and is never overtaken; :meth:`close` stops everything.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._arrived = 0
        self._busy = False
        self._running: int | None = None
        self._closed = False

    def arrive(self) -> int:
        """A new view request's number; every earlier one is now stale."""
        with self._cond:
            self._arrived += 1
            self._cond.notify_all()
            return self._arrived

    @property
    def cancelled(self) -> bool:
        """True while the running computation should stop (overtaken, or closing)."""
        running = self._running
        return self._closed or (running is not None and running < self._arrived)

    def run_view(self, number: int, compute: Callable[[], T]) -> T:
        with self._cond:
            while True:
                if self._closed or number < self._arrived:
                    raise Superseded
                if not self._busy:
                    break
                self._cond.wait()
            self._busy, self._running = True, number
        try:
            return compute()
        finally:
            self._release()

    def run_exclusive(self, compute: Callable[[], T]) -> T:
        with self._cond:
            while self._busy and not self._closed:
                self._cond.wait()
            if self._closed:
                raise Superseded
            self._busy, self._running = True, None
        try:
            return compute()
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy, self._running = False, None
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class SaveProgress:
    """Save's state for the page's progress indicator (also a :class:`tunecli.runner.BatchReporter`)."""

    state: str = "idle"  # idle | saving | done | failed
    done: int = 0
    total: int = 0

    def batch_started(self, total: int) -> None:
        pass

    def file_started(self, job: Job) -> None:
        pass

    def tile_progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def file_finished(self, result: FileResult) -> None:
        pass

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "done": self.done, "total": self.total}


@dataclass(frozen=True)
class Saved:
    """A written output: its path, the equivalent command, the writer's notices, the seconds it took."""

    path: Path
    command: str
    alpha: str
    notices: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "command": self.command,
            "alpha": self.alpha,
            "notices": list(self.notices),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class TuneSession:
    """One image, one model and the output settings of a ``tunecli tune`` run.

    ``image``: the input as read (full resolution); ``command``: the command-line settings that
    Save obeys and echoes (its ``image`` is the input's path); ``initial``: the alpha the page
    starts at; ``on_saved``: called with every :class:`Saved` (the CLI prints it).
    """

    restorer: Restorer
    image: Image
    command: CommandLine
    initial: Omega
    on_saved: Callable[[Saved], None] | None = None
    scheduler: LatestOnly = field(default_factory=LatestOnly)
    progress: SaveProgress = field(default_factory=SaveProgress)
    _watched: weakref.WeakSet[nn.Module] = field(default_factory=weakref.WeakSet, init=False, repr=False)
    _whole: OrderedDict[Omega, np.ndarray] = field(default_factory=OrderedDict, init=False, repr=False)
    _source_png: bytes | None = field(default=None, init=False, repr=False)

    # ---- description -------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the page needs to lay itself out (JSON): the image, the model and its alpha axes."""
        model = self.restorer.model
        space = self.restorer.alpha_space
        scale = self.restorer.scale
        return {
            "image": self.command.image.name,
            "width": self.image.width,
            "height": self.image.height,
            "scale": scale,
            "task": self.restorer.task,
            "model": model.name,
            "compute": self.restorer.compute_text,
            "tile_exact": model.tiling.tile_exact,
            "fill_tile": max(32, FILL_SIDE // scale),
            "space": {
                "p": space.p,
                "domain": space.domain,
                "scalar": space.scalar,
                "axes": [{"name": axis.name, "meaning": axis.meaning} for axis in space.axes],
                "low": space.low,
                "high": space.high,
            },
            "alpha": list(self.initial),
            "output": str(self.command.output) if self.command.output is not None else None,
            "overwrite": self.command.overwrite,
        }

    def parse_alpha(self, text: str) -> Omega:
        """The ω of ``--alpha`` text; raises :class:`~tunecli.errors.AlphaError` with the CLI's message."""
        return self.restorer.parse_alpha(text).omega

    def region(self, x: int, y: int, width: int, height: int) -> Region:
        """A checked region of the input (see :func:`~tunecli.tune.regions.checked_region`)."""
        return checked_region(x, y, width, height, self.image.width, self.image.height)

    # ---- the page's images ---------------------------------------------------------------
    def source_png(self) -> bytes:
        """The input as an 8-bit PNG (its colour planes; computed once)."""
        if self._source_png is None:
            self._source_png = png_bytes(self.image.pixels)
        return self._source_png

    def render_png(self, omega: Omega, region: Region, number: int) -> bytes:
        """``region`` of the output at ``omega`` as an 8-bit PNG of ``scale``× its size.

        ``number``: the request's place (:meth:`LatestOnly.arrive`); raises :class:`Superseded`
        when a newer request overtakes it before or while it runs.
        """
        return png_bytes(self.scheduler.run_view(number, lambda: self.render(omega, region)))

    def render(self, omega: Omega, region: Region) -> np.ndarray:
        """``region`` of the output at ``omega``: float32 ``(h·scale, w·scale, C)`` in [0, 1]."""
        self._watch(omega)
        scale = self.restorer.scale
        if not self.restorer.model.tiling.tile_exact:
            whole = self._whole_output(omega)
            return whole[
                region.y * scale : (region.y + region.height) * scale,
                region.x * scale : (region.x + region.width) * scale,
            ]
        contract = self.restorer.model.tiling
        crop = context_crop(
            region, self.image.width, self.image.height, contract.receptive_radius, contract.size_multiple
        )
        pixels = self.image.pixels[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]
        part = Image(np.ascontiguousarray(pixels), None, replace(self.image.meta, notices=[]))
        tile = 0 if crop.pixels <= WHOLE_CROP_PIXELS else "auto"
        out = self.restorer.restore(part, omega, tile=tile).image.pixels
        inner = region.within(crop)
        return out[
            inner.y * scale : (inner.y + inner.height) * scale, inner.x * scale : (inner.x + inner.width) * scale
        ]

    def _whole_output(self, omega: Omega) -> np.ndarray:
        if omega in self._whole:
            self._whole.move_to_end(omega)
            return self._whole[omega]
        colour = Image(self.image.pixels, None, replace(self.image.meta, notices=[]))
        self._whole[omega] = self.restorer.restore(colour, omega).image.pixels
        while len(self._whole) > _WHOLE_CACHE:
            self._whole.popitem(last=False)
        return self._whole[omega]

    def _watch(self, omega: Omega) -> None:
        """Make the baked network of ``omega`` stop at its next layer once its computation is
        overtaken (a hook per submodule; the network is the one :meth:`Restorer.restore` reuses)."""
        module = self.restorer.baked(omega)
        if module in self._watched:
            return
        for part in module.modules():
            part.register_forward_pre_hook(self._stop_if_cancelled)
        self._watched.add(module)

    def _stop_if_cancelled(self, module: nn.Module, args: Any) -> None:
        if self.scheduler.cancelled:
            raise Superseded

    # ---- saving --------------------------------------------------------------------------
    def save(self, omega: Omega) -> Saved:
        """Render the whole image at ``omega`` and write it as ``tunecli TASK --alpha …`` would:
        named by :func:`~tunecli.runner.plan_jobs`, written atomically by the batch runner, next
        to the input or into the ``-o`` folder, an existing file replaced only with ``--overwrite``.
        Raises :class:`~tunecli.errors.OutputError` (or the run's own error) with a one-line message."""
        began = time.perf_counter()
        self.progress = SaveProgress("saving")
        try:
            saved = self.scheduler.run_exclusive(lambda: self._save(omega, began))
        except BaseException:
            self.progress.state = "failed"
            raise
        self.progress.state = "done"
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved

    def _save(self, omega: Omega, began: float) -> Saved:
        self._watch(omega)
        space = self.restorer.alpha_space
        command = self.command
        options = OutputOptions(output=command.output, existing="overwrite" if command.overwrite else "error")
        plan = plan_jobs([command.image], task=command.task, label=space.label(omega), options=options)
        (job,) = plan.jobs
        if job.target.exists() and not command.overwrite:
            raise OutputError(f"{job.target}: already exists (start tunecli tune with --overwrite to replace it)")
        summary = run_batch(self.restorer, plan, omega, options=options, reporter=self.progress)
        (result,) = summary.results
        if result.status != "done":
            if isinstance(result.exception, Superseded):
                raise OutputError(f"{job.target}: not written (tunecli tune is stopping)")
            if isinstance(result.exception, TunecliError):
                raise result.exception
            raise OutputError(result.error or f"{job.target}: not written")
        text = alpha_text(space, omega)
        return Saved(job.target, command.at(text), text, result.notices, time.perf_counter() - began)

    def close(self) -> None:
        """Stop: a running computation ends at its next layer, waiting requests are dropped."""
        self.scheduler.close()


def png_bytes(pixels: np.ndarray) -> bytes:
    """Float ``(H, W, C)`` pixels in [0, 1] as an 8-bit RGB PNG, quickly compressed (a view, not a file)."""
    buffer = io.BytesIO()
    to_rgb8(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
