"""``tunecli train``: parse options into a TrainConfig and run it (logic in tunecli.training)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from tunecli.cli.console import TrainProgress, err_console
from tunecli.cli.task_options import TaskOptionsCommand
from tunecli.tasks import Task, list_tasks

TRAIN_EPILOG = (
    "Examples:\n\n"
    "  tunecli train denoise --data DATA_DIR/train --val-data DATA_DIR/test/Sun_Hays80 "
    "--out runs/denoise-unet.safetensors --steps 15000\n\n"
    "  tunecli train upscale --data DIR --features DATA_DIR/weights/vgg19_normalised_wct "
    "--scale 4 --out runs/upscale-x4.safetensors\n\n"
    "  tunecli train style --style a.jpg --style b.jpg --style c.jpg --data PHOTOS --features VGG "
    "--out runs/style-mix.safetensors\n\n"
    "Resume: add --resume OUT.resume.safetensors (written every --checkpoint-every steps)."
)


class TrainCommand(TaskOptionsCommand):
    """``tunecli train TASK``: the generic options and every task's own (help: TASK's)."""

    def task_of(self, argument: str) -> Task | None:
        return next((task for task in list_tasks() if task.name == argument), None)


def train_command(
    task: Annotated[str, typer.Argument(help="Task to train: denoise, deblur, upscale or style.")],
    data: Annotated[
        list[Path],
        typer.Option("--data", "--content", help="Folder(s) of clean training images / content photos (repeatable)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint to write (.safetensors).")],
    steps: Annotated[int, typer.Option(min=1, help="Total optimizer steps.")] = 20000,
    batch: Annotated[int, typer.Option(min=1, help="Patches per step.")] = 16,
    patch: Annotated[int, typer.Option(min=8, help="Patch side in pixels.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (warm-up, then cosine decay).")] = 2e-3,
    warmup: Annotated[
        int, typer.Option(min=0, help="Steps of linear learning-rate warm-up (shorter for a warm start).")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed: weights and every batch are a function of it.")] = 0,
    resume: Annotated[Path | None, typer.Option(help="Continue from a .resume.safetensors state.")] = None,
    val_data: Annotated[
        list[Path] | None, typer.Option("--val-data", help="Held-aside folder(s) for validation PSNR.")
    ] = None,
    val_split: Annotated[
        int,
        typer.Option(
            min=0,
            help="Hold aside N training images (spread over the sorted list) for validation instead of --val-data.",
        ),
    ] = 0,
    val_every: Annotated[int, typer.Option(min=1, help="Validate every K steps.")] = 1000,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Write the resumable state every K steps.")] = 500,
    arch: Annotated[
        str | None, typer.Option(help="Registered architecture name (default: the task's: unet, srnet or stylenet).")
    ] = None,
    hparams: Annotated[
        str | None,
        typer.Option(
            help="Architecture hyper-parameters as JSON, e.g. '{\"widths\": [32, 64, 128]}' "
            "(default: those of the --resume state or the --init-from checkpoint, else the architecture's)."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="auto (CUDA, then MPS, then CPU), cpu, cuda[:i] or mps; batches are the same on all.")
    ] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads (0 = torch default).")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="Background threads decoding images and cutting patches.")] = 2,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from a trained checkpoint's weights (fresh optimizer and schedule); a U-Net "
            "with one level fewer is grown into the --hparams one, computing the same at the start."
        ),
    ] = None,
    corner_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of samples trained exactly at a one-hot corner (the extremes)."),
    ] = 0.2,
    loss: Annotated[
        str,
        typer.Option(
            help="Per-sample objective: l1 (robust), l2 (what PSNR measures) or psnr (−PSNR per sample, so every noise level weighs the same)."
        ),
    ] = "l1",
    omega_groups: Annotated[
        int,
        typer.Option(
            min=0,
            help="Split each batch into G groups that share one ω each, so the tunable layers run dense "
            "convolutions (several times faster on a CPU); 0 = one ω per sample, as in the paper.",
        ),
    ] = 0,
    precision: Annotated[
        str,
        typer.Option(
            help="fp32, or bf16: forward pass under bfloat16 autocast (weights and optimizer stay fp32). "
            "Faster on GPUs and on CPUs with AMX-BF16; measure with bench/train_speed.py."
        ),
    ] = "fp32",
    fixed_alpha: Annotated[
        str | None,
        typer.Option(help="Train a single-objective baseline: every sample at this alpha (e.g. 0 or 1)."),
    ] = None,
    d_lr: Annotated[
        float | None,
        typer.Option(help="Peak learning rate of the discriminator (tasks with an adversarial loss; default lr/2)."),
    ] = None,
    task_options: dict[str, Any] | None = None,
) -> None:
    """Train a tunable checkpoint by parametric multi-loss optimization.

    `tunecli train TASK --help` lists the options of that task.
    """
    from tunecli.errors import UsageError
    from tunecli.tasks import get_task
    from tunecli.training.loop import TrainConfig, train

    arch_hparams = None
    if hparams is not None:
        try:
            arch_hparams = json.loads(hparams)
        except json.JSONDecodeError:
            raise UsageError(f"--hparams is not valid JSON: {hparams!r}") from None
        if not isinstance(arch_hparams, dict):
            raise UsageError("--hparams must be a JSON object")
    if resume and init_from:
        raise UsageError("--resume and --init-from exclude each other; pass one")
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: the checkpoint name must end in .safetensors")
    config = TrainConfig(
        task=task,
        data=[str(d) for d in data],
        out=str(out),
        steps=steps,
        batch=batch,
        patch=patch,
        lr=lr,
        warmup=warmup,
        seed=seed,
        arch=arch or get_task(task).default_arch,
        hparams=arch_hparams,
        val_data=[str(d) for d in val_data or []],
        val_split=val_split,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
        data_workers=workers,
        device=device,
        resume=str(resume) if resume else None,
        fixed_alpha=fixed_alpha,
        corner_share=corner_share,
        loss=loss,
        omega_groups=omega_groups,
        precision=precision,
        init_from=str(init_from) if init_from else None,
        task_options=dict(task_options or {}),
        d_lr=d_lr,
        command="tunecli " + shlex.join(sys.argv[1:]),
    )
    with TrainProgress() as display:
        result = train(config, log=display.log, progress=display.update)
    summary = Text("trained ", style="green")
    summary.append(f"{result.out}: {result.steps} steps, loss {result.first_loss:.4f} → {result.last_loss:.4f}")
    err_console.print(summary, soft_wrap=True)
