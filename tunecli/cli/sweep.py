"""``--sweep`` of the task commands (SPEC §6): plan the galleries, run them, render the summary.

The work is :mod:`tunecli.gallery.sweep`; this module only calls it and renders. torch is
imported only once the plan has been checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunecli.cli import console
from tunecli.cli.batch import alpha_space_of, json_summary, load_restorer, run_batch_command

if TYPE_CHECKING:
    from tunecli.cli.batch import TaskOptions
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
    space = alpha_space_of(info, options)
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

    from tunecli.gallery.sweep import SweepSummary, run_sweep

    restorer = load_restorer(info, options)

    def report(summary: SweepSummary) -> None:
        if options.json:
            tuning = {
                "sweep": options.sweep,
                "alphas": [
                    {"omega": list(omega), "label": space.label(omega), "text": space.describe(omega)}
                    for omega in sweep.omegas
                ],
            }
            details = {
                "galleries": [str(folder) for folder in summary.galleries],
                "combined": str(summary.combined) if summary.combined else None,
                "incomplete": [str(folder) for folder in summary.incomplete],
            }
            console.emit_json(json_summary(task, info, restorer, summary.batch, tuning=tuning, details=details))
        if not options.quiet:
            for folder in summary.galleries:
                console.info(f"gallery: {folder / 'index.html'}")
            if summary.combined is not None:
                console.info(f"overview: {summary.combined / 'index.html'}")
            for folder in summary.incomplete:
                console.warning(f"{folder}: no gallery (an output failed)")
            console.info(
                f"{len(sweep.omegas)} alphas × {len(plan.galleries)} image(s): {summary.batch.counts_text()} · "
                f"{info.name} · {restorer.compute_text}"
            )

    run_batch_command(
        lambda reporter: run_sweep(
            restorer,
            plan,
            options=output_options,
            tile=tile,  # type: ignore[arg-type]
            overlap=options.overlap,
            max_pixels=options.max_pixels or DEFAULT_MAX_PIXELS,
            reporter=reporter,
        ),
        report,
        partial_summary=SweepSummary,  # no gallery was written after Ctrl-C
        options=options,
    )
