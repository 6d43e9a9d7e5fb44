"""``--sweep`` of the task commands (SPEC §6): plan the galleries, run them, render the summary.

The work is :mod:`tunecli.gallery.sweep`; this module only calls it and renders. torch is
imported only once the plan has been checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tunecli.cli import console

if TYPE_CHECKING:
    from tunecli.cli.restore import TaskOptions
    from tunecli.models import ModelInfo
    from tunecli.runner import OutputOptions


def run_sweep_command(
    task: str,
    info: ModelInfo,
    options: TaskOptions,
    output_options: OutputOptions,
    tile: int | str,
) -> None:
    """Write a gallery per input for ``options.sweep``; raises ``typer.Exit`` with
    the exit code when something failed."""
    from tunecli.alpha import parse_sweep
    from tunecli.gallery.sweep import plan_sweep
    from tunecli.imageio import DEFAULT_MAX_PIXELS
    from tunecli.runner import prepare_output_folders

    assert options.sweep is not None
    space = info.alpha_space
    sweep = parse_sweep(options.sweep, space)
    plan = plan_sweep(
        options.inputs,
        task=task,
        space=space,
        sweep=sweep,
        spec=options.sweep,
        options=output_options,
        reference=options.reference,
    )
    if not options.quiet:
        console.passed_over(plan.ignored, plan.passed_over)
    prepare_output_folders(plan.folders)

    from tunecli.api import load
    from tunecli.gallery.sweep import SweepSummary, run_sweep
    from tunecli.runner import BatchInterrupted

    restorer = load(info.path, device=options.device, precision=options.precision, ensemble=options.ensemble)
    interrupt: BatchInterrupted | None = None
    try:
        with console.BatchProgress(quiet=options.quiet, debug=options.debug) as progress:
            summary = run_sweep(
                restorer,
                plan,
                options=output_options,
                tile=tile,  # type: ignore[arg-type]
                overlap=options.overlap,
                max_pixels=options.max_pixels or DEFAULT_MAX_PIXELS,
                reporter=progress,
            )
    except BatchInterrupted as stop:  # no gallery was written; the summary first, then exit 130
        summary, interrupt = SweepSummary(stop.summary), stop
    pages = [folder / "index.html" for folder in summary.galleries]
    if options.json:
        console.emit_json(
            {
                "command": task,
                "model": info.name,
                "checkpoint": str(info.path),
                "sweep": options.sweep,
                "alphas": [
                    {"omega": list(omega), "label": space.label(omega), "text": space.describe(omega)}
                    for omega in sweep.omegas
                ],
                "device": str(restorer.device),
                "precision": restorer.precision,
                "ensemble": restorer.ensemble,
                "galleries": [str(folder) for folder in summary.galleries],
                "combined": str(summary.combined) if summary.combined else None,
                "incomplete": [str(folder) for folder in summary.incomplete],
                **summary.batch.to_json(),
                "exit_code": summary.exit_code,
            }
        )
    if not options.quiet:
        for page in pages:
            console.info(f"gallery: {page}")
        if summary.combined is not None:
            console.info(f"overview: {summary.combined / 'index.html'}")
        for folder in summary.incomplete:
            console.warning(f"{folder}: no gallery (an output failed)")
        batch = summary.batch
        console.info(
            f"{len(sweep.omegas)} alphas × {len(plan.galleries)} image(s): {batch.counts_text()} · "
            f"{info.name} · {restorer.compute_text}"
        )
    if interrupt is not None:
        raise interrupt
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)
