"""The ``tunecli`` Typer application: parses, resolves and renders; no image logic here.

Commands register themselves from their modules; the root group (:class:`TunecliGroup`) turns
tunecli errors into one line on stderr and the exit codes of SPEC §5.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tunecli import __version__
from tunecli.cli import console, restore
from tunecli.cli.evaluate import EVAL_EPILOG, EvalCommand, eval_command
from tunecli.cli.models import models_command
from tunecli.cli.task_options import TaskOptionsFunction
from tunecli.cli.train import TRAIN_EPILOG, TrainCommand, train_command
from tunecli.cli.tune import TUNE_EPILOG, tune_command
from tunecli.tasks import get_task, list_tasks


class RootGroup(console.TunecliGroup):
    """The root group; a task registered after this module was imported (e.g. by a plugin or a
    test) gets its command too, built from the registry when asked for."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names + [task.name for task in list_tasks() if task.name not in names]

    def get_command(self, ctx: typer.Context, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and name in [task.name for task in list_tasks()]:
            single = typer.Typer(add_completion=False, rich_markup_mode="rich", pretty_exceptions_enable=False)
            restore.register(single, get_task(name))
            command = typer.main.get_command(single)
        return command


app = typer.Typer(
    name="tunecli",
    cls=RootGroup,
    help="Tunable image restoration: denoise, deblur, upscale and stylize with a strength knob.",
    epilog=(
        "Start with [bold]tunecli models[/bold] to see what alpha means for each model, then e.g. "
        "[bold]tunecli denoise --alpha 0.3 photo.png[/bold]. Each command has --help with examples."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunecli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks with errors.")] = False,
) -> None:
    """Tunable image restoration from the command line."""
    console.set_debug(ctx, debug)


for _task in list_tasks():
    restore.register(app, _task)
app.command("models", cls=console.TunecliCommand, rich_help_panel="Models")(models_command)
app.command("tune", cls=console.TunecliCommand, rich_help_panel="Restore", epilog=TUNE_EPILOG)(tune_command)
# every task's own options join these two commands' generic ones (tunecli.cli.task_options)
app.command("train", cls=TrainCommand, rich_help_panel="Training and evaluation", epilog=TRAIN_EPILOG)(
    TaskOptionsFunction(train_command, "train")
)
app.command("eval", cls=EvalCommand, rich_help_panel="Training and evaluation", epilog=EVAL_EPILOG)(
    TaskOptionsFunction(eval_command, "eval")
)


def main() -> None:
    """Console-script entry point."""
    app()
