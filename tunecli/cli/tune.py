"""``tunecli tune IMAGE``: a local page with a slider per alpha axis over one photo.

This module only parses, resolves and renders: the page's server is :mod:`tunecli.tune.server`
and its engine :mod:`tunecli.tune.session`. torch and the server library (the ``[ui]`` extra)
are imported only once the command runs, so ``tunecli --help`` stays light.
"""

from __future__ import annotations

import importlib.util
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunecli.cli import console
from tunecli.cli.restore import PrecisionChoice
from tunecli.errors import INTERRUPTED, UsageError
from tunecli.tune.command import CommandLine

if TYPE_CHECKING:
    from tunecli.alpha import Omega
    from tunecli.tune.session import Saved, TuneSession

TUNE_EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  tunecli tune photo.jpg     [dim]→ the page opens; Save writes photo_denoise_a0.37.jpg[/dim]\n\n"
    "  tunecli tune --task deblur shaky.png -o out/\n\n"
    "  tunecli tune -m style-mix photo.jpg --port 8765 --no-browser\n\n"
    "The server listens on 127.0.0.1 only and needs the random token in its URL. "
    "Needs the [bold]ui[/bold] extra: pip install 'tunecli\\[ui]'.\n\n"
    "Exit codes: 2 usage error, 1 runtime error, 130 stopped with Ctrl-C (the normal way to end it)."
)

_UI_MODULES = ("starlette", "uvicorn")


def check_ui_extra() -> None:
    """Raise a one-line :class:`~tunecli.errors.UsageError` when the ``[ui]`` extra is missing."""
    missing = [name for name in _UI_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"tunecli tune needs the ui extra ({', '.join(missing)} not installed): pip install 'tunecli[ui]'"
        )


def output_folder(image: Path, output: Path | None) -> Path:
    """The folder Save writes into (``-o DIR``, else the input's folder), created and proven
    writable now; ``-o`` naming a file is refused (each alpha gets its own name)."""
    from tunecli.imageio import is_image_path
    from tunecli.runner import prepare_output_folders

    if output is not None and (output.is_file() or (not output.exists() and is_image_path(output))):
        raise UsageError(f"-o {output}: tune writes one file per saved alpha; pass a folder")
    folder = output if output is not None else image.parent
    prepare_output_folders([folder])
    return folder


def _print_saved(saved: Saved) -> None:
    console.info(f"wrote: {saved.path} ({saved.seconds:.2f} s)")
    for line in saved.notices:
        console.notice(line)
    console.info(f"command: {saved.command}")


def _session(command: CommandLine, checkpoint: Path, omega: Omega) -> TuneSession:
    """The input read and the model loaded (torch is imported here)."""
    from tunecli.api import load
    from tunecli.device import resolve_device, view_precision
    from tunecli.imageio import DEFAULT_MAX_PIXELS, read_image
    from tunecli.tune.session import TuneSession

    pixels = read_image(command.image, max_pixels=DEFAULT_MAX_PIXELS)
    # what the page shows is what Save writes: both at the view precision (bf16 on a CPU with
    # native bfloat16), and the printed command names it
    command = replace(command, precision=view_precision(command.precision, resolve_device(command.device)))
    restorer = load(checkpoint, device=command.device, precision=command.precision)
    return TuneSession(restorer, pixels, command, omega, on_saved=_print_saved)


def tune_command(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="The photo to tune.", show_default=False, metavar="IMAGE")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="denoise, deblur, upscale or style (default: the model's, else denoise)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Installed model name or .safetensors path (default: the task's)."),
    ] = None,
    scale: Annotated[
        int | None, typer.Option(help="Upscaling factor: picks the default model of that scale (upscale).")
    ] = None,
    alpha: Annotated[
        str | None, typer.Option("--alpha", "-a", help="Where the sliders start (default: the model's alpha).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL; do not open a browser.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder Save writes into; default: next to the input.", metavar="DIR"),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Let Save replace an existing file.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    precision: Annotated[
        PrecisionChoice,
        typer.Option(
            help="auto (bf16 on a CPU with native bfloat16, twice as fast as fp32; else as the task commands), "
            "fp32, fp16 or bf16. Save writes at the same precision."
        ),
    ] = "auto",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks with errors.")] = False,
) -> None:
    """Tune a photo live: a local page with a slider per alpha axis, a before/after split and Save."""
    from tunecli.alpha import ParsedAlpha
    from tunecli.cli.restore import resolve_model
    from tunecli.models import find_model

    console.set_debug(ctx, debug)
    check_ui_extra()
    if task is None:
        task = find_model(model).task if model is not None else "denoise"
    info = resolve_model(task, model, scale)
    space = info.alpha_space
    parsed = space.parse(alpha) if alpha is not None else ParsedAlpha(space.validate(space.default))
    if parsed.notice:
        console.notice(parsed.notice)
    if not image.is_file():
        raise UsageError(f"{image}: no such file")
    output_folder(image, output)
    command = CommandLine(task, image, model, scale, output, overwrite, device, precision)

    from tunecli.tune.server import TuneServer, bind_local

    sock = bind_local(port)
    try:
        session = _session(command, info.path, parsed.omega)
    except BaseException:
        sock.close()
        raise
    restorer = session.restorer
    server = TuneServer(session, sock)
    console.info(f"tuning {image} with {info.name} ({restorer.compute_text}); Ctrl-C stops")
    console.info(f"page: {server.url}")
    if not no_browser and not webbrowser.open(server.url):
        console.notice("no browser could be started: open the page's URL yourself")
    if server.run():
        console.info("stopped")
        raise typer.Exit(INTERRUPTED)
