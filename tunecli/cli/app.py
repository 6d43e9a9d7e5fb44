"""The ``tunecli`` Typer application: parses, resolves and renders; no image logic here."""

from __future__ import annotations

import typer

from tunecli import __version__

app = typer.Typer(
    name="tunecli",
    help="Tunable image restoration: denoise, deblur, upscale and stylize with a strength knob.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunecli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Tunable image restoration from the command line."""


def main() -> None:
    """Console-script entry point."""
    app()
