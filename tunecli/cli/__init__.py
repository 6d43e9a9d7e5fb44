"""Command-line interface (Typer). Kept import-light: torch is imported only by commands."""

from tunecli.cli.app import app, main

__all__ = ["app", "main"]
