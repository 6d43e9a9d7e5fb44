"""Parametric multi-loss training (Maggioni et al. 2023, §3.2).

Each sample of a batch gets its own ω (uniform on the simplex or in the box, with a share of
one-hot corners so the extremes are trained as well as the middle); the network runs at that ω
and the loss is that sample's objective mix. With ``omega_groups`` the batch instead splits
into groups sharing one ω each (dense convolutions: faster, above all on a CPU), and
``precision="bf16"`` runs the forward pass under bfloat16 autocast. Adam(W) with warm-up +
cosine decay, gradient clipping, periodic resumable checkpoints and a validation pass on
held-aside images.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tunecli.alpha import AlphaSpace
from tunecli.archs.registry import build_arch
from tunecli.checkpoint import load_tensors, read_header, save_checkpoint
from tunecli.device import resolve_device
from tunecli.errors import DeviceError, UsageError
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.models import load_model, model_metadata
from tunecli.tasks import denoise
from tunecli.training.data import ImageFolder, list_images, manifest_sha256, prefetch_batches, split_validation

TRAINABLE_TASKS = ("denoise",)
LOSSES = ("l1", "l2", "psnr")
PRECISIONS = ("fp32", "bf16")
RESUME_SUFFIX = ".resume.safetensors"


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the checkpoint)."""

    task: str
    data: list[str]
    out: str
    steps: int = 20000
    batch: int = 16
    patch: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-6
    warmup: int = 500
    weight_decay: float = 0.0
    grad_clip: float = 0.5
    seed: int = 0
    arch: str = "unet"
    #: None: those of the ``resume`` state or the ``init_from`` checkpoint, else the arch's defaults
    hparams: dict[str, Any] | None = None
    corner_share: float = 0.2
    fixed_alpha: str | None = None
    quantize_share: float = 0.5
    loss: str = "l1"
    #: distinct ω per step: the batch splits into this many equal groups, each sharing one ω
    #: (0: one ω per sample, as in the paper)
    omega_groups: int = 0
    #: "fp32", or "bf16": forward pass under bfloat16 autocast (weights and optimizer stay fp32)
    precision: str = "fp32"
    val_data: list[str] = field(default_factory=list)
    val_split: int = 0
    val_images: int = 8
    val_every: int = 1000
    checkpoint_every: int = 500
    log_every: int = 100
    threads: int = 0
    data_workers: int = 2
    device: str = "auto"
    resume: str | None = None
    init_from: str | None = None
    command: str = ""


@dataclass(frozen=True)
class TrainStatus:
    """Where a run stands, after ``step`` of ``total`` optimizer steps: ``loss`` is an exponential
    moving average of the step losses, ``validation`` the latest PSNR per σ (dB; empty before the first)."""

    step: int
    total: int
    loss: float
    lr: float
    validation: dict[str, float]


@dataclass
class TrainResult:
    out: Path
    steps: int
    wall_seconds: float
    first_loss: float
    last_loss: float
    validation: dict[str, float]


def sample_omega(space: AlphaSpace, batch: int, corner_share: float, generator: torch.Generator) -> Tensor:
    """``(batch, p)`` tuning vectors: uniform on the simplex (Dirichlet(1, …, 1)) or in the box,
    with about ``corner_share`` of the rows replaced by random one-hot corners."""
    if space.domain == "simplex":
        exp = -torch.log(torch.rand(batch, space.p, generator=generator).clamp_min(1e-12))
        omega = exp / exp.sum(dim=1, keepdim=True)  # normalized exponentials = Dirichlet(1)
    else:
        omega = torch.rand(batch, space.p, generator=generator)
    corner = torch.rand(batch, generator=generator) < corner_share
    if bool(corner.any()):
        index = torch.randint(space.p, (batch,), generator=generator)
        one_hot = torch.nn.functional.one_hot(index, space.p).to(omega.dtype)
        if space.domain == "box":  # box corners are all 0/1 vertices
            one_hot = (torch.rand(batch, space.p, generator=generator) < 0.5).to(omega.dtype)
        omega = torch.where(corner[:, None], one_hot, omega)
    return omega


def sample_grouped_omega(
    space: AlphaSpace, batch: int, groups: int, corner_share: float, generator: torch.Generator
) -> Tensor:
    """``(batch, p)`` ω: ``groups`` draws of :func:`sample_omega`, each repeated over
    ``batch // groups`` consecutive samples (``groups`` 0 or ``batch``: one ω per sample)."""
    if groups in (0, batch):
        return sample_omega(space, batch, corner_share, generator)
    return sample_omega(space, groups, corner_share, generator).repeat_interleave(batch // groups, dim=0)


def run_grouped(net: nn.Module, noisy: Tensor, omega: Tensor, groups: int) -> Tensor:
    """``net(noisy, omega)`` for ``noisy`` ``(B, C, H, W)`` and ``omega`` ``(B, p)`` whose rows come
    in ``groups`` equal runs of one ω: each run goes through the net with that shared ω, so its
    tunable layers mix their kernels once and run dense convolutions instead of per-sample
    grouped ones (on a CPU in channels-last layout). ``groups`` 0 or ``B``: one pass with
    per-sample ω."""
    batch = noisy.shape[0]
    if groups in (0, batch):
        return net(noisy, omega)
    size = batch // groups
    if noisy.device.type == "cpu":
        noisy = noisy.contiguous(memory_format=torch.channels_last)  # dense convs run faster so
    return torch.cat([net(noisy[i : i + size], omega[i]) for i in range(0, batch, size)])


def optimizer_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    noisy: Tensor,
    clean: Tensor,
    omega: Tensor,
    config: TrainConfig,
    groups: int,
) -> Tensor:
    """One optimizer step on a degraded batch: ``noisy`` and ``clean`` ``(B, C, H, W)`` float32
    and ``omega`` ``(B, p)`` on the training device, ``omega`` in ``groups`` equal runs
    (:func:`run_grouped`). The forward pass runs under ``config.precision``; the loss is
    ``config.loss`` (:func:`objective`), gradients are clipped to ``config.grad_clip``.
    Returns the loss, detached (reading it would wait for a GPU)."""
    with torch.autocast(noisy.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        restored = run_grouped(net, noisy, omega, groups)
    # per-sample objective: distance to the clean image for the degradation that ω selects
    loss = objective(restored.float(), clean, config.loss)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    optimizer.step()
    return loss.detach()


def objective(restored: Tensor, clean: Tensor, kind: str) -> Tensor:
    """Scalar training loss between ``restored`` and ``clean`` (same shape ``(B, C, H, W)``, [0, 1]
    scale): ``l1`` mean absolute error, ``l2`` mean squared error (the error PSNR measures),
    ``psnr`` the batch mean of each sample's negative PSNR in dB.

    ``l1`` and ``l2`` pool the error over the batch, so in a mixed-σ batch the noisiest samples,
    whose errors are largest, dominate the gradient. ``psnr`` is scale-free per sample: a 1 %
    lower error counts the same at σ 5 as at σ 50, and its mean is the metric benchmarks average.
    """
    error = restored - clean
    if kind == "l1":
        return error.abs().mean()
    if kind == "l2":
        return error.square().mean()
    mse = error.square().flatten(1).mean(dim=1)
    return (10.0 / math.log(10.0)) * torch.log(mse + 1e-10).mean()


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay from ``lr`` to ``min_lr`` over ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def _task_space(task: str) -> AlphaSpace:
    if task not in TRAINABLE_TASKS:
        raise UsageError(f"cannot train task {task!r} yet; trainable: {', '.join(TRAINABLE_TASKS)}")
    return denoise.alpha_space()


def _validation_set(files: list[Path]) -> list[tuple[Tensor, Tensor, float]]:
    """(noisy, clean, sigma) triples on center crops of held-aside images, seeded noise."""
    if not files:
        return []
    images = ImageFolder(files)
    pairs = []
    generator = torch.Generator().manual_seed(12345)
    for image in images:
        h, w = image.shape[:2]
        size = min(256, h, w) // 4 * 4
        top, left = (h - size) // 2, (w - size) // 2
        clean = torch.from_numpy(image[top : top + size, left : left + size].transpose(2, 0, 1) / 255.0).float()[None]
        for sigma in (15.0, 25.0, 50.0):
            noisy = denoise.add_noise(clean, torch.tensor([sigma]), generator, torch.tensor([True]))
            pairs.append((noisy, clean, sigma))
    return pairs


def validate(net: nn.Module, pairs: list[tuple[Tensor, Tensor, float]]) -> dict[str, float]:
    """Mean PSNR (8-bit quantized output) per σ at the alpha matching σ."""
    scores: dict[str, list[float]] = {}
    device = next(net.parameters()).device
    net.eval()
    with torch.no_grad():
        for noisy, clean, sigma in pairs:
            alpha = denoise.alpha_of_sigma(sigma)
            out = net(noisy.to(device), torch.tensor([1 - alpha, alpha])).cpu()
            value = psnr(quantize_8bit(out[0].permute(1, 2, 0).numpy()), clean[0].permute(1, 2, 0).numpy())
            scores.setdefault(f"psnr_sigma{sigma:g}", []).append(value)
    net.train()
    return {k: round(float(np.mean(v)), 3) for k, v in scores.items()}


def _resume_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".safetensors") + RESUME_SUFFIX)


def _save_state(path: Path, net: nn.Module, optimizer: torch.optim.Optimizer, meta: dict[str, Any]) -> None:
    """Model + AdamW moments as safetensors (no pickle), step and config in the metadata."""
    tensors = {f"model.{k}": v for k, v in net.state_dict().items()}
    for index, param in enumerate(p for group in optimizer.param_groups for p in group["params"]):
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                tensors[f"optim.{index}.{key}"] = state[key]
        if "step" in state:
            tensors[f"optim.{index}.step"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1)
    save_checkpoint(path, tensors, meta)


def _load_state(path: Path, net: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    header = read_header(path)
    if "resume" not in header.meta:
        raise UsageError(f"{path}: not a resumable training state (use the {RESUME_SUFFIX} file)")
    tensors = load_tensors(header)
    try:
        net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    except RuntimeError:
        raise UsageError(
            f"{path}: the state was trained with --hparams '{json.dumps(header.meta.get('hparams'))}', "
            "which this command's --hparams do not match; leave --hparams out to use the state's"
        ) from None
    for index, param in enumerate(p for group in optimizer.param_groups for p in group["params"]):
        if f"optim.{index}.exp_avg" in tensors:
            optimizer.state[param] = {  # the moments live with their parameter, the step count on the CPU
                "step": tensors[f"optim.{index}.step"].reshape(()),
                "exp_avg": tensors[f"optim.{index}.exp_avg"].to(param.device),
                "exp_avg_sq": tensors[f"optim.{index}.exp_avg_sq"].to(param.device),
            }
    return header.meta


def starting_hparams(config: TrainConfig) -> dict[str, Any]:
    """The architecture hyper-parameters to build: ``config.hparams`` when given, else those
    recorded in the ``--resume`` state or the ``--init-from`` checkpoint (same arch), else ``{}``
    (the architecture's defaults)."""
    if config.hparams is not None:
        return config.hparams
    source = config.resume or config.init_from
    if source:
        meta = read_header(source).meta
        if meta.get("arch") == config.arch:
            return dict(meta.get("hparams", {}))
    return {}


def recorded_total(recorded: dict[str, Any]) -> tuple[int | None, float | None]:
    """(steps, wall seconds) of all the training a checkpoint had, from its ``training`` record;
    ``(None, None)`` when it predates ``total_steps`` and more than one command trained it."""
    if "total_steps" in recorded:
        total, wall = recorded["total_steps"], recorded.get("total_wall_seconds")
        return (None, None) if total is None or wall is None else (int(total), float(wall))
    if len(recorded.get("commands", [recorded.get("command")])) > 1:
        return None, None
    return int(recorded.get("steps", 0)), float(recorded.get("wall_seconds", 0.0))


def train(
    config: TrainConfig,
    log: Callable[[str], None] = lambda _: None,
    progress: Callable[[TrainStatus], None] | None = None,
) -> TrainResult:
    """Run (or resume) training; writes periodic resume states and the final checkpoint.

    ``log`` gets a line at start-up, every ``log_every`` steps and at each validation;
    ``progress`` (for a live display) gets a :class:`TrainStatus` after every step."""
    space = _task_space(config.task)
    if config.loss not in LOSSES:
        raise UsageError(f"unknown loss {config.loss!r}: use one of {', '.join(LOSSES)}")
    if not 0.0 <= config.quantize_share <= 1.0:
        raise UsageError(f"quantize share {config.quantize_share} is not in [0, 1]")
    if config.val_split and config.val_data:
        raise UsageError("--val-split and --val-data exclude each other; pass one")
    if config.omega_groups and config.batch % config.omega_groups:
        raise UsageError(f"--omega-groups {config.omega_groups} does not divide --batch {config.batch}")
    if config.precision not in PRECISIONS:
        raise UsageError(f"unknown training precision {config.precision!r}: use one of {', '.join(PRECISIONS)}")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if config.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"--precision bf16 is not supported by {device}; train in fp32")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: pick the fastest kernels once
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(config.out)
    files, val_files = split_validation(list_images([Path(d) for d in config.data]), config.val_split)
    if config.val_data:  # the first val_images of the folder(s); a split validates on all it holds aside
        val_files = list_images([Path(d) for d in config.val_data])[: config.val_images]
    data_hash = manifest_sha256(files)
    log(f"{len(files)} training images, manifest sha256 {data_hash[:16]}…, training on {device}")
    if config.val_split:
        log(f"{len(val_files)} more held aside for validation: {', '.join(f.name for f in val_files)}")
    images = ImageFolder(files)
    val_pairs = _validation_set(val_files)

    fixed_omega = None
    if config.fixed_alpha is not None:
        fixed_omega = space.parse(config.fixed_alpha).omega
    torch.manual_seed(config.seed)
    hparams = {"p": space.p, **starting_hparams(config)}
    net = build_arch(config.arch, hparams).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, betas=(0.9, 0.9), weight_decay=config.weight_decay)
    start, elapsed, history = 0, 0.0, {}
    commands = [config.command]
    # training a warm start's source had before this run (None: unknown, the total is then not claimed)
    prior_steps: int | None = 0
    prior_wall: float | None = 0.0
    source_sha256 = None  # the --init-from file's bytes, so a chain of warm starts can be verified
    if config.resume:
        meta = _load_state(Path(config.resume), net, optimizer)
        recorded = meta.get("training", {})
        # a resumed model is reproduced by replaying every command that trained it, in order
        commands = [*recorded.get("commands", [recorded.get("command", "")]), config.command]
        total, total_wall = recorded_total(recorded)  # the state's steps are this run's own so far
        prior_steps = None if total is None else total - int(recorded.get("steps", 0))
        prior_wall = None if total_wall is None else total_wall - float(recorded.get("wall_seconds", 0.0))
        source_sha256 = recorded.get("init_from_sha256")  # a resumed warm start keeps its source
        start = int(meta["resume"]["step"])
        elapsed = float(meta["resume"]["wall_seconds"])
        history = meta["resume"].get("validation", {})
        log(f"resumed from {config.resume} at step {start}")
    elif config.init_from:
        source = load_model(config.init_from)
        if source.info.meta["arch"] != config.arch:
            raise UsageError(f"{config.init_from}: --init-from needs the same architecture ({config.arch})")
        if source.module.hparams == net.hparams:
            net.load_state_dict(source.module.state_dict())  # copies onto the training device
        elif hasattr(net, "grow_from"):
            try:
                net.grow_from(source.module)
            except ValueError as error:
                raise UsageError(f"{config.init_from}: {error}") from None
            log(f"grown from {json.dumps(source.module.hparams)} to {json.dumps(net.hparams)}")
        else:
            raise UsageError(f"{config.init_from}: --init-from needs the same --hparams for {config.arch}")
        recorded = source.info.meta.get("training", {})
        # warm start: the new model is reproduced by the source's commands, then this one
        commands = [*recorded.get("commands", [recorded.get("command", "")]), config.command]
        prior_steps, prior_wall = recorded_total(recorded)
        source_sha256 = source.sha256
        log(f"initialized from {config.init_from} ({recorded.get('steps', '?')} steps)")
    if start >= config.steps:
        raise UsageError(f"the state is at step {start}, not before --steps {config.steps}; raise --steps")

    def metadata(step: int, validation: dict[str, float], wall: float) -> dict[str, Any]:
        return model_metadata(
            net,
            task=config.task,
            alpha_space=space,
            extra={
                "license": "MIT",
                "training": {
                    "command": config.command,
                    "commands": commands,
                    "data_manifest_sha256": data_hash,
                    "data_files": len(files),
                    "validation_files": [f.name for f in val_files],
                    "steps": step,
                    "wall_seconds": round(wall, 1),
                    # with --init-from: the source's training included
                    "total_steps": None if prior_steps is None else prior_steps + step,
                    "total_wall_seconds": None if prior_wall is None else round(prior_wall + wall, 1),
                    "init_from_sha256": source_sha256,
                    "config": asdict(config),
                    "validation": validation,
                },
            },
        )

    net.train()
    # a fixed-alpha baseline shares its one ω over the whole batch
    groups = 1 if config.fixed_alpha is not None else config.omega_groups
    generator = torch.Generator()
    first_loss = last_loss = float("nan")
    running: list[float] = []
    began = time.monotonic()
    step = start
    resume_path = _resume_path(out)
    smoothed = float("nan")
    pending: list[Tensor] = []
    batches = prefetch_batches(
        images, config.batch, config.patch, config.seed, start, config.steps, workers=config.data_workers
    )
    for batch in batches:
        generator.manual_seed(config.seed * 1_000_003 + step)
        clean = torch.from_numpy(batch)
        if config.fixed_alpha is None:
            omega = sample_grouped_omega(space, config.batch, config.omega_groups, config.corner_share, generator)
        else:  # a single-objective baseline: every sample at one ω
            omega = torch.tensor(fixed_omega, dtype=torch.float32).expand(config.batch, space.p)
        # degraded on the CPU from the seeded generator: the same batches on every device
        noisy = denoise.degrade(clean, omega, generator, config.quantize_share).to(device)
        clean, omega = clean.to(device), omega.to(device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        pending.append(optimizer_step(net, optimizer, noisy, clean, omega, config, groups))
        step += 1
        # reading a loss waits for the GPU, so on one the losses are read 16 steps at a time
        if device.type == "cpu" or step % 16 == 0 or step % config.log_every == 0 or step == config.steps:
            for value in torch.stack(pending).tolist():
                running.append(value)
                if math.isnan(first_loss):
                    first_loss = value
                smoothed = value if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * value
            pending = []
        if step % config.log_every == 0 or step == config.steps:
            last_loss = float(np.mean(running))
            rate = (step - start) / max(1e-9, time.monotonic() - began)
            log(
                f"step {step}/{config.steps} loss {last_loss:.5f} lr {learning_rate(config, step):.2e} {rate:.2f} steps/s"
            )
            running = []
        if val_pairs and (step % config.val_every == 0 or step == config.steps):
            history = validate(net, val_pairs)
            log(f"step {step} validation " + " ".join(f"{k}={v:.2f}" for k, v in history.items()))
        if progress is not None:
            progress(TrainStatus(step, config.steps, smoothed, learning_rate(config, step), history))
        if step % config.checkpoint_every == 0 and step < config.steps:
            wall = elapsed + time.monotonic() - began
            meta = metadata(step, history, wall)
            meta["resume"] = {"step": step, "wall_seconds": wall, "validation": history}
            _save_state(resume_path, net, optimizer, meta)
    if running:
        last_loss = float(np.mean(running))
    wall = elapsed + time.monotonic() - began
    final = metadata(step, history, wall)
    save_checkpoint(out, net.state_dict(), final)
    # the final state stays resumable, e.g. to continue with a longer --steps
    _save_state(
        resume_path, net, optimizer, {**final, "resume": {"step": step, "wall_seconds": wall, "validation": history}}
    )
    log(f"wrote {out} after {step} steps ({wall / 60:.1f} min)")
    return TrainResult(out, step, wall, first_loss, last_loss, history)
