"""What the batch commands share — a task command (:mod:`tunecli.cli.restore`) and its
``--sweep`` (:mod:`tunecli.cli.sweep`): their options, the run under a progress display with
Ctrl-C's partial summary, and the ``--json`` summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import typer

from tunecli.cli import console

if TYPE_CHECKING:
    from tunecli.api import Restorer
    from tunecli.imageio.remote import Location
    from tunecli.models import ModelInfo
    from tunecli.runner import BatchReporter, BatchSummary


@dataclass(frozen=True)
class TaskOptions:
    """The common options of the task commands (SPEC §2), as parsed by Typer."""

    inputs: list[Location]
    alpha: str | None
    sweep: str | None
    reference: Path | None
    model: str | None
    scale: int | None
    output: Location | None
    recursive: bool
    suffix: str
    format: str
    quality: int | None
    bit_depth: str
    skip_existing: bool
    overwrite: bool
    tile: str
    overlap: int | None
    device: str
    precision: str
    ensemble: bool
    max_pixels: int | None
    json: bool
    quiet: bool
    debug: bool
    alpha_map: Path | None = None
    alpha_map_mode: str = "exact"
    #: ``local`` (this process) or ``ray`` (:mod:`tunecli.ray_engine`), with its cluster options
    engine: str = "local"
    address: str | None = None
    workers: int | None = None
    #: deblur with a known blur kernel (plug-and-play HQS, :mod:`tunecli.pnp`), one of the file's
    #: kernels when it holds several
    kernel: Path | None = None
    kernel_index: int | None = None


def alpha_space_of(info: ModelInfo, options: TaskOptions) -> Any:
    """The alpha space a run of ``info`` takes: the model's, or with ``--kernel`` the one knob
    of plug-and-play deblurring (:data:`tunecli.pnp.restorer.KERNEL_ALPHA`)."""
    if options.kernel is None:
        return info.alpha_space
    from tunecli.pnp.restorer import KERNEL_ALPHA

    return KERNEL_ALPHA


def load_restorer(info: ModelInfo, options: TaskOptions) -> Restorer:
    """The model of ``info`` on the device the options name; with ``--kernel`` wrapped as the
    prior of a :class:`~tunecli.pnp.restorer.KernelDeblurrer`."""
    from tunecli.api import load

    restorer = load(info.path, device=options.device, precision=options.precision, ensemble=options.ensemble)
    if options.kernel is None:
        return restorer
    from tunecli.pnp.restorer import KernelDeblurrer

    return KernelDeblurrer.from_file(restorer, options.kernel, options.kernel_index)


class _Finished(Protocol):
    """A batch command's summary: what it did and the exit code that follows (SPEC §5)."""

    @property
    def exit_code(self) -> int: ...


FinishedT = TypeVar("FinishedT", bound=_Finished)


def run_batch_command(
    run: Callable[[BatchReporter], FinishedT],
    report: Callable[[FinishedT], None],
    *,
    partial_summary: Callable[[BatchSummary], FinishedT],
    options: TaskOptions,
) -> None:
    """Run a batch command's work, ``run(reporter)``, under a progress display on stderr, then
    ``report`` its summary and exit with the summary's exit code (``typer.Exit``; none for 0).

    After Ctrl-C the summary reported is ``partial_summary`` of what was finished
    (:func:`tunecli.runner.run_interruptible`), and the interrupt is raised again once it is
    reported, for the root group's exit 130.
    """
    from tunecli.runner import run_interruptible

    def shown() -> FinishedT:
        with console.BatchProgress(quiet=options.quiet, debug=options.debug) as progress:
            return run(progress)

    summary, interrupt = run_interruptible(shown, partial_summary)
    report(summary)
    if interrupt is not None:
        raise interrupt
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def json_summary(
    command: str,
    info: ModelInfo,
    restorer: Restorer,
    batch: BatchSummary,
    *,
    tuning: Mapping[str, Any],
    details: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``--json`` document of a batch command, in this order: the command and the model,
    ``tuning`` (the alpha, or the sweep's alphas), how it computed (device, precision,
    ensemble), ``details`` (the command's own fields: tiles, galleries), then the batch's
    counts and every file's result (:meth:`tunecli.runner.BatchSummary.to_json`) and the exit code."""
    return {
        "command": command,
        "model": info.name,
        "checkpoint": str(info.path),
        **tuning,
        "device": str(restorer.device),
        "precision": restorer.precision,
        "ensemble": restorer.ensemble,
        **details,
        **batch.to_json(),
        "exit_code": batch.exit_code,
    }
