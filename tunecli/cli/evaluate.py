"""``tunecli eval``: a model measured with its task's protocol (:meth:`tunecli.tasks.Task.evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunecli.cli import console
from tunecli.cli.task_options import TaskOptionsCommand
from tunecli.tasks import Task


class EvalCommand(TaskOptionsCommand):
    """``tunecli eval MODEL``: the generic options and every task's own (help: the model's task's)."""

    def task_of(self, argument: str) -> Task | None:
        from tunecli.errors import TunecliError
        from tunecli.models import find_model
        from tunecli.tasks import get_task, list_tasks

        try:
            name = argument if argument in [t.name for t in list_tasks()] else find_model(argument).task
            return get_task(name)
        except TunecliError:
            return None  # an unknown model: the command says so when it runs


EVAL_EPILOG = (
    "Examples:\n\n"
    "  tunecli eval denoise-unet-l4 --data DATA_DIR/test/CBSD68 --sigma 15,25,50\n\n"
    "  tunecli eval deblur-unet --data DATA_DIR/test/CBSD68 --kernels DATA_DIR/kernels/KAIR/Levin09.mat\n\n"
    "  tunecli eval upscale-x4 --data DATA_DIR/test/Set5 --features DATA_DIR/weights/vgg19_normalised_wct\n\n"
    "Without --alpha each degradation is run at the alpha the model card maps it to."
)


def _numbers(text: str, option: str) -> list[float]:
    from tunecli.errors import UsageError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated numbers, not {text!r}") from None
    if not values:
        raise UsageError(f"{option} needs at least one number")
    return values


def eval_command(
    model: Annotated[
        str, typer.Argument(help="Shipped model name, .safetensors path, or a task name (its default model).")
    ],
    data: Annotated[list[Path], typer.Option("--data", help="Folder(s) of clean images (repeatable).")],
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            "-a",
            help="Alphas to score: 0,0.5,1 for one-number models, vectors separated by ; otherwise "
            "(noise=0.2,blur=0.5;0,1). Default: the task's choice, see below.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Use only the first N images (0 = all).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the noise and synthetic kernels.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda[:i] or mps.")] = "auto",
    tile: Annotated[str, typer.Option(help="Tile side, auto or 0 (whole image).")] = "0",
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Average over the 8 flips/rotations (as the task commands' --ensemble).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the rows as JSON on stdout.")] = False,
    task_options: dict[str, Any] | None = None,
) -> None:
    """Measure a tunable model with its task's own protocol and columns.

    denoise: PSNR/SSIM (8-bit, RGB) per noise kind and sigma, at the matching alpha.
    deblur: PSNR/SSIM per kernel set and sigma, at the alpha the card maps the degradation to.
    upscale: PSNR-Y/SSIM-Y (border = scale) at alpha 0, 0.5, 1 beside bicubic and Lanczos.
    style: content and style losses at every corner and the centre.

    `tunecli eval MODEL --help` lists the options of that model's task.
    """
    from tunecli.api import load
    from tunecli.cli.restore import parse_tile
    from tunecli.evaluation.evaluate import load_clean_images
    from tunecli.tasks import EvalOptions, get_task, list_tasks
    from tunecli.training.data import list_images

    tile_spec = parse_tile(tile)
    if model in [t.name for t in list_tasks()]:
        model = get_task(model).default_model
    restorer = load(model, device=device, precision="fp32", ensemble=ensemble)
    task = get_task(restorer.task)
    own = task.resolve_options("eval", task_options)  # one-line UsageError before any work
    alphas = None
    if alpha is not None:
        if restorer.alpha_space.scalar:
            alphas = [repr(v) for v in _numbers(alpha, "--alpha")]
        else:
            alphas = [part.strip() for part in alpha.split(";") if part.strip()]
        for value in alphas:
            restorer.parse_alpha(value)  # one-line AlphaError before any work

    files = list_images(data)
    if limit:
        files = files[:limit]
    images = load_clean_images(files)
    options = EvalOptions(alphas=alphas, seed=seed, tile=tile_spec, task_options=own)
    report = task.evaluate(restorer, images, options)
    if json_output:
        console.emit_json(
            {
                "model": model,
                "task": task.name,
                "images": len(files),
                "ensemble": ensemble,
                "notes": report.notes,
                "rows": report.rows,
            }
        )
        return
    from rich.table import Table

    title = (
        f"{model}{' (ensemble x8)' if ensemble else ''} on {len(files)} image(s) from {', '.join(str(d) for d in data)}"
    )
    table = Table(title=title, caption="; ".join(report.notes) or None)
    for column in report.columns:
        table.add_column(column.header, justify="right")
    for row in report.rows:
        table.add_row(*(format(row.get(c.key, ""), c.format) if c.key in row else "" for c in report.columns))
    console.out_console.print(table)
