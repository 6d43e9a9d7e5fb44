"""``tunecli eval``: PSNR/SSIM per noise level and alpha on a folder of clean images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunecli.cli import console

EVAL_EPILOG = (
    "Example: tunecli eval denoise-unet-l4 --data ../shared/data/test/CBSD68 --sigma 15,25,50\n\n"
    "Without --alpha each sigma is run at the alpha the model card maps it to."
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
    model: Annotated[str, typer.Argument(help="Shipped model name or .safetensors path.")],
    data: Annotated[list[Path], typer.Option("--data", help="Folder(s) of clean images (repeatable).")],
    sigma: Annotated[str, typer.Option(help="Noise levels on the 0-255 scale, comma-separated.")] = "15,25,50",
    alpha: Annotated[
        str | None, typer.Option("--alpha", "-a", help="Alphas to score at every sigma (default: the matching one).")
    ] = None,
    noise: Annotated[str, typer.Option(help="Noisy inputs: float, 8bit or float,8bit.")] = "float,8bit",
    limit: Annotated[int, typer.Option(min=0, help="Use only the first N images (0 = all).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda[:i] or mps.")] = "auto",
    tile: Annotated[str, typer.Option(help="Tile side, auto or 0 (whole image).")] = "0",
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Average over the 8 flips/rotations (as tunecli denoise --ensemble).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the rows as JSON on stdout.")] = False,
) -> None:
    """Measure a tunable denoiser: PSNR/SSIM (8-bit quantized, RGB) per sigma and alpha."""
    import numpy as np

    from tunecli.api import load
    from tunecli.cli.restore import parse_tile
    from tunecli.errors import UsageError
    from tunecli.evaluation.evaluate import evaluate_denoiser, load_clean_images, rows_to_json
    from tunecli.tasks import denoise
    from tunecli.training.data import list_images

    sigmas = _numbers(sigma, "--sigma")
    kinds = [k.strip() for k in noise.split(",") if k.strip()]
    if not kinds or any(k not in ("float", "8bit") for k in kinds):
        raise UsageError(f"--noise takes float, 8bit or float,8bit, not {noise!r}")
    tile_spec = parse_tile(tile)
    restorer = load(model, device=device, precision="fp32", ensemble=ensemble)
    if restorer.task != "denoise":
        raise UsageError(f"tunecli eval measures denoisers; {model!r} is a {restorer.task} model")
    fixed = _numbers(alpha, "--alpha") if alpha else None
    for value in fixed or []:
        restorer.parse_alpha(value)  # one-line AlphaError before any work

    files = list_images(data)
    if limit:
        files = files[:limit]
    images = load_clean_images(files)

    def run(noisy: np.ndarray, _sigma: float, a: float) -> np.ndarray:
        return restorer.run(noisy, alpha=a, tile=tile_spec)  # type: ignore[arg-type]

    rows = evaluate_denoiser(
        run,
        images,
        sigmas,
        (lambda s: fixed) if fixed else (lambda s: [round(denoise.alpha_of_sigma(s), 4)]),
        noise_kinds=kinds,
        seed=seed,
    )
    if json_output:
        console.emit_json({"model": model, "images": len(files), "ensemble": ensemble, "rows": rows_to_json(rows)})
        return
    from rich.table import Table

    title = (
        f"{model}{' (ensemble x8)' if ensemble else ''} on {len(files)} image(s) from {', '.join(str(d) for d in data)}"
    )
    table = Table(title=title)
    for column in ("noise", "sigma", "alpha", "PSNR", "SSIM", "noisy PSNR", "residual RMS", "s/MP"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row.noise,
            f"{row.sigma:g}",
            f"{row.alpha:.3f}",
            f"{row.psnr:.2f}",
            f"{row.ssim:.4f}",
            f"{row.noisy_psnr:.2f}",
            f"{row.residual_rms:.2f}",
            f"{row.seconds_per_mp:.2f}",
        )
    console.out_console.print(table)
