"""The task commands (``denoise``, ``deblur``, ``upscale``, ``style``, one per registered task): one implementation.

Each command only parses options, resolves the model and the paths, and renders; the work is
:mod:`tunecli.runner` on top of :mod:`tunecli.api`. torch is imported only once a run starts,
after the alpha, the paths and the outputs have been checked.
"""

# No ``from __future__ import annotations`` here: the option annotations of the command built in
# ``register`` use the closure's ``task``, which Typer can only see if they are evaluated eagerly.
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from tunecli.cli import console
from tunecli.cli.batch import TaskOptions, alpha_space_of, json_summary, load_restorer, run_batch_command
from tunecli.errors import ModelNotFoundError, UsageError
from tunecli.tasks import Task

TUNING = "Tuning"
MODEL = "Model"
OUTPUT = "Output"
PERFORMANCE = "Performance"
REPORTING = "Reporting"

FormatChoice = Literal["same", "png", "jpg", "webp", "tif", "bmp"]
BitDepthChoice = Literal["auto", "8", "16", "32f"]
PrecisionChoice = Literal["auto", "fp32", "fp16", "bf16"]
EngineChoice = Literal["local", "ray"]


def _example_label(spec: Task) -> str:
    """The output label of the task's example alpha on its default model (read from the card's
    header: no torch), as the file name will carry it; ``a…`` when that model is not installed."""
    from tunecli.errors import TunecliError
    from tunecli.models import find_model

    try:
        space = find_model(spec.default_model).alpha_space
        return space.label(space.parse(spec.example_alpha).omega)
    except TunecliError:
        return "a…"


def _epilog(spec: Task) -> str:
    t, a = spec.name, spec.example_alpha
    named = f"photo_{t}_{_example_label(spec)}.png"
    return (
        "[bold]Examples[/bold]\n\n"
        f"  tunecli {t} --alpha {a} photo.png     [dim]→ {named}[/dim]\n\n"
        f"  tunecli {t} -a {a} -r ~/Pictures -o out/     [dim]→ the tree mirrored in out/[/dim]\n\n"
        f"  tunecli {t} -a {a} scan.tif -o clean.tif --bit-depth 16\n\n"
        f"  tunecli {t} -a {a} *.jpg --json > summary.json\n\n"
        "Exit codes: 0 done, 1 runtime error, 2 usage error, 3 some files failed, 130 interrupted."
    )


def parse_tile(text: str) -> int | str:
    """``--tile`` as ``"auto"`` or a whole number; the value is checked with the overlap by
    :meth:`tunecli.api.Restorer.check_tiling` (auto, 0 for the whole image, or a side in pixels)."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--tile {text!r}: use auto, 0 (whole image) or a side in pixels") from None


def resolve_choice(task: str, options: TaskOptions) -> Any:
    """The model a task command runs: :func:`resolve_model`, or with ``--kernel`` the denoiser
    that is the prior of plug-and-play deblurring (the kernel file checked first: exit 2)."""
    from tunecli.tasks import get_task

    if options.kernel is None:
        if options.kernel_index is not None:
            raise UsageError("--kernel-index picks one kernel of a --kernel file; pass --kernel FILE")
        return resolve_model(task, options.model, options.scale)
    spec = get_task(task)
    prior = spec.kernel_prior
    if not prior:
        raise UsageError(f"--kernel is an option of deblurring, not of {task}")
    if options.engine != "local":
        raise UsageError("--engine ray does not run --kernel yet; leave out --engine")
    if options.alpha_map is not None:
        raise UsageError("--alpha-map is not available with --kernel; pass one --alpha")
    from tunecli.pnp.deblur import load_kernel

    load_kernel(options.kernel, options.kernel_index)
    return resolve_model(prior, options.model or spec.kernel_prior_name(), None)


def resolve_model(task: str, model: str | None, scale: int | None = None) -> Any:
    """The :class:`~tunecli.models.ModelInfo` for ``--model`` or the task's default model
    (``scale``: the task's default model for that scale, e.g. ``upscale-x2``)."""
    from tunecli.models import find_model
    from tunecli.tasks import get_task

    spec = get_task(task)
    if scale is not None and scale not in spec.scales:
        if not spec.scales:
            raise UsageError(f"--scale is an option of upscaling tasks, not of {task}")
        raise UsageError(f"--scale {scale}: {task} models come in {', '.join(f'x{s}' for s in spec.scales)}")
    if model is None:
        name = spec.model_for_scale(scale)
        try:
            info = find_model(name)
        except ModelNotFoundError:
            which = f"x{scale} " if scale is not None else ""
            raise ModelNotFoundError(
                f"no {which}{task} model is installed (the default is {name!r}); pass a checkpoint with --model PATH"
            ) from None
    else:
        info = find_model(model)
    if info.task != task:
        raise UsageError(f"model {info.name!r} is a {info.task} model; use `tunecli {info.task}` or another --model")
    model_scale = int(info.meta.get("scale", 1))
    if scale is not None and model_scale != scale:
        raise UsageError(
            f"model {info.name!r} upscales x{model_scale}, not x{scale}; leave out --scale or pick another"
        )
    return info


def run_task(ctx: typer.Context, task: str, options: TaskOptions) -> None:
    """Run one task command end to end; raises ``typer.Exit`` with a non-zero exit code."""
    from tunecli.alpha import ParsedAlpha
    from tunecli.alpha_map import check_mode
    from tunecli.estimation.auto_alpha import is_auto
    from tunecli.imageio import DEFAULT_MAX_PIXELS
    from tunecli.runner import OutputOptions, output_folders, plan_jobs, prepare_output_folders

    console.set_debug(ctx, options.debug)
    auto = is_auto(options.alpha)
    if options.skip_existing and options.overwrite:
        raise UsageError("--skip-existing and --overwrite exclude each other; pass one")
    if auto and options.sweep is not None:
        raise UsageError("--alpha auto picks one alpha per image and --sweep sets the alphas; pass one")
    if options.alpha is not None and options.sweep is not None:
        raise UsageError("--alpha and --sweep exclude each other; pass one")
    if options.alpha_map is not None and (options.alpha is not None or options.sweep is not None):
        raise UsageError("--alpha-map sets the alpha of every pixel; leave out --alpha and --sweep")
    check_mode(options.alpha_map_mode)
    if options.max_pixels is not None and options.max_pixels < 1:
        raise UsageError("--max-pixels must be a positive number of pixels")
    tile = parse_tile(options.tile)
    _check_engine(options)

    if options.reference is not None and options.sweep is None:
        raise UsageError("--reference scores a sweep's outputs; pass it with --sweep")

    info = resolve_choice(task, options)
    space = alpha_space_of(info, options)
    output_options = OutputOptions(
        output=options.output,
        recursive=options.recursive,
        suffix=options.suffix,
        format=options.format,
        quality=options.quality,
        bit_depth=options.bit_depth,
        existing="skip" if options.skip_existing else "overwrite" if options.overwrite else "error",
    )
    if options.sweep is not None:
        from tunecli.cli.sweep import run_sweep_command
        from tunecli.imageio.remote import RemotePath

        if any(isinstance(path, RemotePath) for path in [*options.inputs, options.output]):
            raise UsageError("--sweep writes its galleries on local paths; pass local inputs and -o, not URIs")

        run_sweep_command(task, info, options, output_options, tile)
        return

    alpha_map = None
    if options.alpha_map is not None:
        from tunecli.alpha_map import axis_values
        from tunecli.imageio import read_image

        alpha_map = read_image(options.alpha_map).pixels
        axis_values(space, alpha_map, f"{options.alpha_map}")  # a map this model cannot take: exit 2 now
    if auto:
        from tunecli.estimation.auto_alpha import AUTO
        from tunecli.tasks import get_task

        # a model whose task maps no noise level, or an axis it cannot estimate: exit 2
        if options.kernel is None:
            auto_task = get_task(task)
            auto_task.check_auto(space, info.name)
            auto_task.fixed_part_of_auto(str(options.alpha), space, info.name)
        elif str(options.alpha).strip().lower() != AUTO:
            raise UsageError(f"--alpha {options.alpha}: a --kernel run takes one alpha or auto")
        parsed = None
        plan = plan_jobs(options.inputs, task=task, label=AUTO, options=output_options, label_per_image=True)
    else:
        parsed = space.parse(options.alpha) if options.alpha is not None else ParsedAlpha(space.validate(space.default))
        if parsed.notice and not options.quiet:
            console.notice(parsed.notice)
        label = "map" if alpha_map is not None else space.label(parsed.omega)
        plan = plan_jobs(options.inputs, task=task, label=label, options=output_options)
    if not options.quiet:
        console.passed_over(plan.ignored, plan.passed_over)
    prepare_output_folders(output_folders(plan, output_options))

    from tunecli.pnp.restorer import KernelDeblurrer
    from tunecli.runner import BatchSummary, run_batch

    restorer = load_restorer(info, options)
    restorer.check_tiling(tile, options.overlap)

    def report(summary: BatchSummary) -> None:
        tiles = sorted({r.tile for r in summary.results if r.tile is not None})
        if options.json:
            tuning = {
                # --alpha auto: each file's alpha_auto holds its estimate and alpha
                "alpha": "map"
                if alpha_map is not None
                else list(parsed.omega)
                if parsed is not None
                else str(options.alpha).strip().lower(),
                "alpha_label": space.label(parsed.omega) if parsed is not None and alpha_map is None else None,
                "alpha_map": None
                if options.alpha_map is None
                else {"file": str(options.alpha_map), "mode": options.alpha_map_mode},
            }
            details = {"tile": tiles[0] if len(tiles) == 1 else tiles, "overlap": options.overlap}
            if isinstance(restorer, KernelDeblurrer):
                details["kernel"] = restorer.kernel_record()
            console.emit_json(json_summary(task, info, restorer, summary, tuning=tuning, details=details))
        if not options.quiet:
            tile_text = ", ".join("whole image" if t == 0 else f"{t}px" for t in tiles) or "-"
            alpha_text = (
                f"alpha map {options.alpha_map.name} ({options.alpha_map_mode})"
                if options.alpha_map is not None
                else space.describe(parsed.omega)
                if parsed is not None
                else "alpha auto"
            )
            console.info(
                f"{summary.counts_text()} · {info.name} {alpha_text} · {restorer.compute_text} · tile {tile_text}"
            )

    omega = parsed.omega if parsed is not None else str(options.alpha)
    batch_arguments: dict[str, Any] = {
        "options": output_options,
        "tile": tile,
        "overlap": options.overlap,
        "max_pixels": options.max_pixels or DEFAULT_MAX_PIXELS,
        "alpha_map": alpha_map,
        "alpha_map_mode": options.alpha_map_mode,
    }
    if options.engine == "ray":
        from tunecli.ray_engine import RayOptions, run_batch_ray

        load_options = {"device": options.device, "precision": options.precision, "ensemble": options.ensemble}
        engine = RayOptions(address=options.address, workers=options.workers)

        def run(reporter: Any) -> BatchSummary:
            return run_batch_ray(
                info.path, load_options, plan, omega, engine=engine, reporter=reporter, **batch_arguments
            )
    else:

        def run(reporter: Any) -> BatchSummary:
            return run_batch(restorer, plan, omega, reporter=reporter, **batch_arguments)

    run_batch_command(
        run,
        report,
        partial_summary=lambda summary: summary,
        options=options,
    )


def _check_engine(options: TaskOptions) -> None:
    """Refuse what ``--engine`` cannot run, before any model loads (exit 2)."""
    if options.engine == "local":
        if options.address is not None or options.workers is not None:
            raise UsageError("--address and --workers are options of --engine ray")
        return
    if options.sweep is not None:
        raise UsageError("--sweep runs on the local engine only; leave out --engine ray")
    from tunecli.ray_engine import require_ray

    require_ray()


def register(app: typer.Typer, spec: Task) -> None:
    """Add the command of the task ``spec`` (from :mod:`tunecli.tasks`) to ``app`` with the shared options."""
    task = spec.name

    def command(
        ctx: typer.Context,
        inputs: Annotated[
            list[str],
            typer.Argument(
                help="Image files and/or folders, local or URIs (s3://bucket/dir, gs://…, file:///…).",
                show_default=False,
                metavar="INPUT",
            ),
        ],
        alpha: Annotated[
            str | None,
            typer.Option(
                "--alpha",
                "-a",
                help="Tuning vector: 0.3, 0.2,0.8 or name=value,... (default: the model's); auto (denoise, "
                "deblur): from each image's estimated noise level.",
                rich_help_panel=TUNING,
            ),
        ] = None,
        sweep: Annotated[
            str | None,
            typer.Option(help="Write a gallery over alphas: 0:1:5, 0,0.5,1 or simplex:4.", rich_help_panel=TUNING),
        ] = None,
        alpha_map: Annotated[
            Path | None,
            typer.Option(
                "--alpha-map",
                help="Alpha per pixel from an image: gray 0-255 → alpha (p = 2), or one channel per axis "
                "(box models); resized to each input.",
                rich_help_panel=TUNING,
                metavar="MAP",
            ),
        ] = None,
        alpha_map_mode: Annotated[
            str,
            typer.Option(
                "--alpha-map-mode",
                help="exact: per-pixel alpha in every tunable layer; fast: a few alphas blended per pixel.",
                rich_help_panel=TUNING,
            ),
        ] = "exact",
        reference: Annotated[
            Path | None,
            typer.Option(
                help="Clean image (or folder of them, same names) to score a sweep with PSNR/SSIM.",
                rich_help_panel=TUNING,
            ),
        ] = None,
        model: Annotated[
            str | None,
            typer.Option(
                "--model",
                "-m",
                help=f"Installed model name or .safetensors path (default: the installed {task} model).",
                rich_help_panel=MODEL,
            ),
        ] = None,
        scale: Annotated[
            int | None,
            typer.Option(
                help=f"Upscaling factor: picks the default x{{scale}} model ({', '.join(map(str, spec.scales))}).",
                rich_help_panel=MODEL,
                hidden=not spec.scales,
            ),
        ] = None,
        kernel: Annotated[
            Path | None,
            typer.Option(
                help="The blur kernel, when known (.npy, .mat or a gray image; normalised to sum 1): deblur "
                "it by plug-and-play with the denoiser as prior (--model: a denoise model, e.g. denoise-unet-l4-pnp, "
                "trained for it). Alpha is then one "
                "knob, 0 most detail … 1 smoothest; auto = the estimated noise level.",
                rich_help_panel=MODEL,
                hidden=not spec.kernel_prior,
            ),
        ] = None,
        kernel_index: Annotated[
            int | None,
            typer.Option(
                min=0,
                help="Which kernel of a --kernel file that holds several (0-based).",
                rich_help_panel=MODEL,
                hidden=not spec.kernel_prior,
            ),
        ] = None,
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="Output file (one input) or folder, local or a URI; default: next to each input.",
                rich_help_panel=OUTPUT,
            ),
        ] = None,
        recursive: Annotated[
            bool,
            typer.Option(
                "--recursive",
                "-r",
                help="Walk folders; mirror their tree under -o. Links to folders inside are not followed (a note "
                "names each).",
                rich_help_panel=OUTPUT,
            ),
        ] = False,
        suffix: Annotated[
            str,
            typer.Option(
                help="Appended to each output name; {task} and {alpha} are filled in.", rich_help_panel=OUTPUT
            ),
        ] = "_{task}_{alpha}",
        format: Annotated[
            FormatChoice, typer.Option("--format", help="Output format.", rich_help_panel=OUTPUT)
        ] = "same",
        quality: Annotated[
            int | None,
            typer.Option(min=1, max=100, help="JPEG/WebP quality (default: the writer's).", rich_help_panel=OUTPUT),
        ] = None,
        bit_depth: Annotated[
            BitDepthChoice,
            typer.Option("--bit-depth", help="Output sample depth; auto keeps the input's.", rich_help_panel=OUTPUT),
        ] = "auto",
        skip_existing: Annotated[
            bool, typer.Option("--skip-existing", help="Leave existing outputs alone.", rich_help_panel=OUTPUT)
        ] = False,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUTPUT)
        ] = False,
        tile: Annotated[
            str,
            typer.Option(
                help="Largest tile side in pixels (tiles shrink evenly to fit the image), auto (free memory on "
                "CUDA, 512 px one at a time on a CPU), or 0 (whole image).",
                rich_help_panel=PERFORMANCE,
            ),
        ] = "auto",
        overlap: Annotated[
            int | None,
            typer.Option(
                min=0,
                help="Tile overlap in pixels (default: what the model needs to be seam-free).",
                rich_help_panel=PERFORMANCE,
            ),
        ] = None,
        device: Annotated[
            str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=PERFORMANCE)
        ] = "auto",
        precision: Annotated[
            PrecisionChoice,
            typer.Option(help="auto = fp16 on a GPU (fp32 retry on NaN), fp32 on CPU.", rich_help_panel=PERFORMANCE),
        ] = "auto",
        ensemble: Annotated[
            bool,
            typer.Option(
                "--ensemble",
                help="Average the model over the 8 flips/rotations of each tile: a little more fidelity, 8x slower.",
                rich_help_panel=PERFORMANCE,
            ),
        ] = False,
        max_pixels: Annotated[
            int | None,
            typer.Option(
                help="Refuse larger images (decompression-bomb guard); default about 89 MP.",
                rich_help_panel=PERFORMANCE,
            ),
        ] = None,
        engine: Annotated[
            EngineChoice,
            typer.Option(
                help="local: this process; ray: a Ray cluster (the [ray] extra) decodes, restores and writes.",
                rich_help_panel=PERFORMANCE,
            ),
        ] = "local",
        address: Annotated[
            str | None,
            typer.Option(
                help="Ray cluster address (ray://host:10001 or auto); default: a local Ray sized to this machine.",
                rich_help_panel=PERFORMANCE,
            ),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Ray actors restoring images (default: one per GPU, else one per node).",
                rich_help_panel=PERFORMANCE,
            ),
        ] = None,
        json_summary: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary on stdout.", rich_help_panel=REPORTING)
        ] = False,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Only errors on stderr.", rich_help_panel=REPORTING)
        ] = False,
        debug: Annotated[
            bool, typer.Option("--debug", help="Show tracebacks with errors.", rich_help_panel=REPORTING)
        ] = False,
    ) -> None:
        from tunecli.imageio.remote import location

        run_task(
            ctx,
            task,
            TaskOptions(
                inputs=[location(text) for text in inputs],
                alpha=alpha,
                sweep=sweep,
                reference=reference,
                model=model,
                scale=scale,
                output=None if output is None else location(output),
                recursive=recursive,
                suffix=suffix,
                format=format,
                quality=quality,
                bit_depth=bit_depth,
                skip_existing=skip_existing,
                overwrite=overwrite,
                tile=tile,
                overlap=overlap,
                device=device,
                precision=precision,
                ensemble=ensemble,
                max_pixels=max_pixels,
                json=json_summary,
                quiet=quiet,
                debug=debug,
                alpha_map=alpha_map,
                alpha_map_mode=alpha_map_mode,
                engine=engine,
                address=address,
                workers=workers,
                kernel=kernel,
                kernel_index=kernel_index,
            ),
        )

    command.__name__ = task
    app.command(task, cls=console.TunecliCommand, help=spec.summary, epilog=_epilog(spec), rich_help_panel="Restore")(
        command
    )
