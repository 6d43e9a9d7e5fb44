"""Parametric multi-loss training (Maggioni et al. 2023, §3.2) of any registered task.

Each sample of a batch gets its own ω (uniform on the simplex or in the box, with a share of
one-hot corners so the extremes are trained as well as the middle); the task makes the batch
for those ω (:meth:`~tunecli.tasks.registry.Task.make_batch`: the degradation ω selects, if
any), the network runs at each sample's ω and the loss is that sample's objective mix
``Σⱼ wⱼ(ω)·Lⱼ`` (:class:`~tunecli.tasks.registry.TrainingRecipe`). An adversarial objective
trains a discriminator alongside, with its own AdamW and schedule, in the same step and the
same resumable state. With ``omega_groups`` the batch instead splits
into groups sharing one ω each (dense convolutions: faster, above all on a CPU), and
``precision="bf16"`` runs the forward pass under bfloat16 autocast. Adam(W) with warm-up +
cosine decay, gradient clipping, periodic resumable checkpoints and a validation pass on
held-aside images, run through the inference tiling engine.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tunecli.alpha import AlphaSpace
from tunecli.archs.registry import TunableNet, build_arch
from tunecli.checkpoint import read_header, save_checkpoint
from tunecli.device import resolve_device
from tunecli.errors import DeviceError, UsageError
from tunecli.layers import remap_omega
from tunecli.models import load_model, model_metadata
from tunecli.tasks import Pairing, Task, TrainBatch, TrainingRecipe, ValidationCase, get_task
from tunecli.tiling import tile_apply
from tunecli.training.data import ImageFolder, list_images, manifest_sha256, prefetch_batches, split_validation
from tunecli.training.state import RESUME_SUFFIX, TrainedPart, load_state, resume_path, save_state

LOSSES = ("l1", "l2", "charbonnier", "psnr")
PRECISIONS = ("fp32", "bf16")
__all__ = ["RESUME_SUFFIX", "TrainConfig", "TrainResult", "TrainStatus", "train"]


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the checkpoint).

    The generic settings of every task, and ``task_options``: the task's own options by name
    (:attr:`tunecli.tasks.Task.train_options`; those not given take their declared defaults,
    an undeclared name is refused)."""

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
    #: None: the task's default architecture
    arch: str | None = None
    #: None: those of the ``resume`` state or the ``init_from`` checkpoint, else the arch's defaults
    hparams: dict[str, Any] | None = None
    corner_share: float = 0.2
    fixed_alpha: str | None = None
    loss: str = "l1"
    #: the task's own options (see :mod:`tunecli.tasks.options`)
    task_options: dict[str, Any] = field(default_factory=dict)
    #: peak learning rate of the discriminator (adversarial objectives; None: ``lr / 2``)
    d_lr: float | None = None
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

    def __post_init__(self) -> None:
        # complete from the start: every declared option present, converted (one-line UsageError)
        self.task_options = get_task(self.task).resolve_options("train", self.task_options)

    @classmethod
    def of(cls, task: str, **settings: Any) -> TrainConfig:
        """A config from keyword settings: the generic ones by name, the rest the task's own
        options (``TrainConfig.of("upscale", data=[...], out="x.safetensors", scale=2)``)."""
        generic = {f.name for f in fields(cls)}
        own = {k: settings.pop(k) for k in list(settings) if k not in generic}
        return cls(task=task, **settings, task_options={**settings.pop("task_options", {}), **own})

    def record(self) -> dict[str, Any]:
        """The settings as the checkpoint records them: the generic ones and the task's own, in
        one flat, JSON-safe dict (as cards have always had them)."""
        recorded = asdict(self)
        options = recorded.pop("task_options")
        return {**recorded, **options}


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


@dataclass
class Adversary:
    """The discriminator of an adversarial run and its optimizer."""

    net: nn.Module
    optimizer: torch.optim.Optimizer


def multi_loss(recipe: TrainingRecipe, output: Tensor, batch: TrainBatch, adversary: Adversary | None) -> Tensor:
    """The parametric multi-loss: the batch mean of each sample's ``Σⱼ wⱼ(ωᵦ)·Lⱼ(outputᵦ)``.

    ``output``: float32 ``(B, C, H, W)``; the weights come from ``recipe.weights(batch.omega)``
    ``(B, k)`` for the k objectives. Adversarial objectives get the discriminator's logits of
    ``output`` (the discriminator's own weights get no gradient from this loss).
    """
    weights = recipe.weights(batch.omega).to(output.dtype)
    if weights.shape != (output.shape[0], len(recipe.objectives)):
        raise ValueError(f"objective weights have shape {tuple(weights.shape)} for {len(recipe.objectives)} objectives")
    # an objective no sample of the batch weighs is not computed (e.g. the perceptual objective
    # of a fidelity-only warm start): it would add exactly zero
    active = [bool((weights[:, j] != 0).any()) for j in range(len(recipe.objectives))]
    logits = None
    if any(o.adversarial and a for o, a in zip(recipe.objectives, active, strict=True)):
        if adversary is None:
            raise ValueError("an adversarial objective needs a discriminator")
        adversary.net.requires_grad_(False)
        logits = adversary.net(output)
        adversary.net.requires_grad_(True)
    total = output.new_zeros(output.shape[0])
    for j, objective in enumerate(recipe.objectives):
        if not active[j]:
            continue
        per_sample = objective.loss(output, batch, logits) if objective.adversarial else objective.loss(output, batch)
        total = total + weights[:, j] * per_sample
    return total.mean()


def adversarial_share(recipe: TrainingRecipe, omega: Tensor) -> Tensor:
    """``(B,)`` each sample's total weight on adversarial objectives (how much its output was
    asked to look real): the discriminator learns from fakes in this proportion."""
    weights = recipe.weights(omega)
    columns = [j for j, o in enumerate(recipe.objectives) if o.adversarial]
    return weights[:, columns].sum(dim=1)


def optimizer_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: TrainBatch,
    recipe: TrainingRecipe,
    config: TrainConfig,
    groups: int,
    adversary: Adversary | None = None,
) -> Tensor:
    """One optimizer step on a training batch on the training device, ``batch.omega`` in
    ``groups`` equal runs (:func:`run_grouped`), or the recipe's own
    :attr:`~tunecli.tasks.TrainingRecipe.forward` over such passes. The network runs under
    ``config.precision``; the loss is :func:`multi_loss`, gradients are clipped to
    ``config.grad_clip``. With an ``adversary`` its discriminator then takes one step on the
    targets (real) and the detached outputs (fake, weighted by :func:`adversarial_share`; no
    step when no sample of the batch weighs an adversarial objective).
    Returns the generator loss, detached (reading it would wait for a GPU)."""

    def network(x: Tensor, omega: Tensor) -> Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            return run_grouped(net, x, omega, groups).float()

    output = network(batch.inputs, batch.omega) if recipe.forward is None else recipe.forward(network, batch)
    # the objectives' own networks (a feature network, the discriminator) run in the same precision
    with torch.autocast(batch.inputs.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        loss = multi_loss(recipe, output, batch, adversary)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    optimizer.step()
    share = adversarial_share(recipe, batch.omega) if adversary is not None else None
    if adversary is not None and share is not None and bool((share > 0).any()):
        from tunecli.losses.adversarial import discriminator_loss

        d_loss = discriminator_loss(adversary.net(batch.targets), adversary.net(output.detach()), share)
        adversary.optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        nn.utils.clip_grad_norm_(adversary.net.parameters(), config.grad_clip)
        adversary.optimizer.step()
    return loss.detach()


def objective(restored: Tensor, clean: Tensor, kind: str) -> Tensor:
    """Scalar pixel loss between ``restored`` and ``clean`` (same shape ``(B, C, H, W)``, [0, 1]
    scale): the batch mean of :data:`tunecli.losses.pixel.PIXEL_LOSSES` ``[kind]`` per sample —
    ``l1`` mean absolute error, ``l2`` mean squared error (the error PSNR measures),
    ``charbonnier`` a smooth L1, ``psnr`` each sample's negative PSNR in dB.

    Every sample weighs the same, so with ``l1``/``l2`` in a mixed-σ batch the noisiest samples,
    whose errors are largest, dominate the gradient. ``psnr`` is scale-free per sample: a 1 %
    lower error counts the same at σ 5 as at σ 50, and its mean is the metric benchmarks average.
    """
    from tunecli.losses.pixel import PIXEL_LOSSES

    return PIXEL_LOSSES[kind](restored, clean).mean()


def learning_rate(config: TrainConfig, step: int, peak: float | None = None) -> float:
    """Linear warm-up then cosine decay from ``peak`` (default ``config.lr``) to ``min_lr``
    (at most ``peak``) over ``steps``."""
    peak = config.lr if peak is None else peak
    floor = min(config.min_lr, peak)
    if step < config.warmup:
        return peak * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def validate(
    net: TunableNet, task: Task, cases: list[ValidationCase], device: torch.device, batch_size: int = 1
) -> dict[str, float]:
    """Mean validation score per case label (:meth:`Task.validation_score`, by default PSNR in
    dB of the 8-bit quantized output), each case run at its ω through the inference tiling
    engine (:func:`tunecli.tiling.tile_apply`, padded to the arch's size multiple, whole)."""
    scores: dict[str, list[float]] = {}
    contract = net.tiling
    was_training = net.training
    net.eval()
    for case in cases:
        omega = torch.tensor(case.omega, dtype=torch.float32, device=device)
        output = tile_apply(
            lambda x, omega=omega: net(x, omega),
            case.input,
            tile=0,
            overlap=0,
            scale=contract.scale,
            size_multiple=contract.size_multiple,
            receptive_radius=contract.receptive_radius,
            batch_size=batch_size,
            device=device,
        )
        scores.setdefault(case.label, []).append(task.validation_score(output, case))
    net.train(was_training)
    return {k: round(float(np.mean(v)), 3) for k, v in scores.items()}


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
            hparams = dict(meta.get("hparams", {}))
            if meta.get("task") != config.task:  # another task's alpha space: its own p and form
                hparams.pop("p", None)
                hparams.pop("affine", None)
            return hparams
    return {}


def _without_space(hparams: dict[str, Any]) -> dict[str, Any]:
    """Architecture hyper-parameters other than those the alpha space sets (``p``, ``affine``)."""
    return {k: v for k, v in hparams.items() if k not in ("p", "affine")}


def recorded_total(recorded: dict[str, Any]) -> tuple[int | None, float | None]:
    """(steps, wall seconds) of all the training a checkpoint had, from its ``training`` record;
    ``(None, None)`` when it predates ``total_steps`` and more than one command trained it."""
    if "total_steps" in recorded:
        total, wall = recorded["total_steps"], recorded.get("total_wall_seconds")
        return (None, None) if total is None or wall is None else (int(total), float(wall))
    if len(recorded.get("commands", [recorded.get("command")])) > 1:
        return None, None
    return int(recorded.get("steps", 0)), float(recorded.get("wall_seconds", 0.0))


def _validation_images(files: list[Path]) -> list[np.ndarray]:
    """Held-aside images as float32 ``(H, W, 3)`` in [0, 1] (8-bit decoded, as training sees them)."""
    return [(image / 255.0).astype(np.float32) for image in ImageFolder(files)]


def checked_config(config: TrainConfig) -> tuple[Task, TrainConfig]:
    """The task of ``config`` and the config completed (the task's default architecture, its
    options resolved against its declaration); refuses settings no run can take with a one-line
    :class:`~tunecli.errors.UsageError`, before any data is read."""
    task = get_task(config.task)
    options = task.resolve_options("train", config.task_options)
    config = replace(config, arch=config.arch or task.default_arch, task_options=options)
    if config.loss not in LOSSES:
        raise UsageError(f"unknown loss {config.loss!r}: use one of {', '.join(LOSSES)}")
    if config.val_split and config.val_data:
        raise UsageError("--val-split and --val-data exclude each other; pass one")
    if config.omega_groups and config.batch % config.omega_groups:
        raise UsageError(f"--omega-groups {config.omega_groups} does not divide --batch {config.batch}")
    if config.precision not in PRECISIONS:
        raise UsageError(f"unknown training precision {config.precision!r}: use one of {', '.join(PRECISIONS)}")
    task.check_config(config)  # e.g. a missing --features
    return task, config


def training_device(config: TrainConfig) -> torch.device:
    """The device of ``config.device`` set up for training (threads, cuDNN autotuning, TF32)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if config.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"--precision bf16 is not supported by {device}; train in fp32")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: pick the fastest kernels once
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


@dataclass
class TrainingData:
    """The images of a run: training files (and their manifest hash), held-aside validation files
    and the task's validation cases made from them."""

    files: list[Path]
    val_files: list[Path]
    manifest_sha256: str
    val_cases: list[ValidationCase]


def training_data(config: TrainConfig, task: Task, device: torch.device, log: Callable[[str], None]) -> TrainingData:
    """List the training images (``--val-split`` of them held aside, or ``--val-data``'s first
    ``val_images``) and make the validation cases."""
    files, val_files = split_validation(list_images([Path(d) for d in config.data]), config.val_split)
    if config.val_data:  # the first val_images of the folder(s); a split validates on all it holds aside
        val_files = list_images([Path(d) for d in config.val_data])[: config.val_images]
    data_hash = manifest_sha256(files)
    log(f"{len(files)} training images, manifest sha256 {data_hash[:16]}…, training on {device}")
    if config.val_split:
        log(f"{len(val_files)} more held aside for validation: {', '.join(f.name for f in val_files)}")
    cases = task.validation_cases(_validation_images(val_files), config) if val_files else []
    return TrainingData(files, val_files, data_hash, cases)


def build_parts(
    config: TrainConfig, task: Task, space: AlphaSpace, recipe: TrainingRecipe, device: torch.device
) -> tuple[TunableNet, list[TrainedPart], Adversary | None]:
    """The network (seeded; hyper-parameters from the task, ``--hparams`` or the start's card),
    its AdamW, and for an adversarial recipe the discriminator and its optimizer."""
    torch.manual_seed(config.seed)
    hparams = {"p": space.p, **task.arch_defaults(config), **starting_hparams(config), **task.arch_hparams(config)}
    try:
        net = build_arch(str(config.arch), hparams).to(device)
    except KeyError:
        raise UsageError(f"unknown architecture {config.arch!r}") from None
    except (TypeError, ValueError) as error:
        raise UsageError(f"--hparams do not build {config.arch!r}: {error}") from None
    if net.tiling.scale != recipe.scale:
        raise UsageError(
            f"{config.arch} {json.dumps(hparams)} upscales x{net.tiling.scale}; the task needs x{recipe.scale}"
        )
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, betas=(0.9, 0.9), weight_decay=config.weight_decay)
    parts = [TrainedPart("model", "optim", net, optimizer)]
    adversary = None
    if recipe.adversarial:
        from tunecli.losses.adversarial import PatchDiscriminator

        discriminator = PatchDiscriminator(**recipe.discriminator).to(device)
        d_optimizer = torch.optim.AdamW(discriminator.parameters(), lr=_d_lr(config), betas=(0.9, 0.99))
        adversary = Adversary(discriminator, d_optimizer)
        parts.append(TrainedPart("disc", "doptim", discriminator, d_optimizer))
    return net, parts, adversary


@dataclass
class Lineage:
    """Where a run starts: the step and wall time of a resumed state (0 otherwise), the latest
    validation, every command that trained the model (replayed in order, this one last), the
    training a warm start's source had before (None: unknown, the total is then not claimed) and
    the ``--init-from`` file's SHA-256 (so a chain of warm starts can be verified)."""

    step: int = 0
    elapsed: float = 0.0
    validation: dict[str, float] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    prior_steps: int | None = 0
    prior_wall: float | None = 0.0
    source_sha256: str | None = None


def resumed_lineage(config: TrainConfig, parts: list[TrainedPart]) -> Lineage:
    """Load the ``--resume`` state into ``parts``; the run continues where it stopped."""
    meta = load_state(Path(str(config.resume)), parts)
    recorded = meta.get("training", {})
    total, total_wall = recorded_total(recorded)  # the state's steps are this run's own so far
    return Lineage(
        step=int(meta["resume"]["step"]),
        elapsed=float(meta["resume"]["wall_seconds"]),
        validation=meta["resume"].get("validation", {}),
        # a resumed model is reproduced by replaying every command that trained it, in order
        commands=[*recorded.get("commands", [recorded.get("command", "")]), config.command],
        prior_steps=None if total is None else total - int(recorded.get("steps", 0)),
        prior_wall=None if total_wall is None else total_wall - float(recorded.get("wall_seconds", 0.0)),
        source_sha256=recorded.get("init_from_sha256"),  # a resumed warm start keeps its source
    )


def warm_start(
    config: TrainConfig, task: Task, net: TunableNet, device: torch.device, log: Callable[[str], None]
) -> Lineage:
    """Initialize ``net`` from the ``--init-from`` checkpoint: the same network, another size of
    the same architecture (where it can map it), or another task's model through the task's ω map."""
    source = load_model(str(config.init_from))
    if source.info.meta["arch"] != config.arch:
        raise UsageError(f"{config.init_from}: --init-from needs the same architecture ({config.arch})")
    source_task = source.info.meta.get("task")
    if source_task != config.task:
        mapping = task.omega_map_from(str(source_task))
        if mapping is None:
            raise UsageError(f"{config.init_from}: a {source_task} model cannot warm-start a {config.task} model")
        if _without_space(source.module.hparams) != _without_space(net.hparams):
            raise UsageError(f"{config.init_from}: --init-from needs the same --hparams for {config.arch}")
        try:
            remap_omega(net, source.module.to(device), *mapping)
        except ValueError as error:
            raise UsageError(f"{config.init_from}: {error}") from None
        log(f"alpha mapped from {source_task}: omega_{source_task} = {mapping[0]} + {mapping[1]} @ omega")
    elif source.module.hparams == net.hparams:
        net.load_state_dict(source.module.state_dict())  # copies onto the training device
    elif hasattr(net, "warm_start_from"):  # another size of the same arch, where the arch can map it
        try:
            net.warm_start_from(source.module)
        except ValueError as error:
            raise UsageError(f"{config.init_from}: {error}") from None
        log(f"warm-started from {json.dumps(source.module.hparams)} to {json.dumps(net.hparams)}")
    else:
        raise UsageError(f"{config.init_from}: --init-from needs the same --hparams for {config.arch}")
    recorded = source.info.meta.get("training", {})
    prior_steps, prior_wall = recorded_total(recorded)
    log(f"initialized from {config.init_from} ({recorded.get('steps', '?')} steps)")
    # warm start: the new model is reproduced by the source's commands, then this one
    commands = [*recorded.get("commands", [recorded.get("command", "")]), config.command]
    return Lineage(commands=commands, prior_steps=prior_steps, prior_wall=prior_wall, source_sha256=source.sha256)


@dataclass
class TrainingRun:
    """One run, set up: what :func:`run_steps` trains and :func:`run_metadata` records."""

    config: TrainConfig
    task: Task
    space: AlphaSpace
    device: torch.device
    data: TrainingData
    recipe: TrainingRecipe
    net: TunableNet
    parts: list[TrainedPart]
    adversary: Adversary | None
    lineage: Lineage
    #: the task's reference images for the training files (None: it pairs none)
    pairing: Pairing | None = None


def run_metadata(run: TrainingRun, step: int, validation: dict[str, float], wall: float) -> dict[str, Any]:
    """The checkpoint metadata after ``step`` steps and ``wall`` seconds of this run."""
    config, lineage = run.config, run.lineage
    return model_metadata(
        run.net,
        task=config.task,
        alpha_space=run.space,
        extra={
            "license": "MIT",
            "training": {
                "command": config.command,
                "commands": lineage.commands,
                "data_manifest_sha256": run.data.manifest_sha256,
                "data_files": len(run.data.files),
                "validation_files": [f.name for f in run.data.val_files],
                "steps": step,
                "wall_seconds": round(wall, 1),
                # with --init-from: the source's training included
                "total_steps": None if lineage.prior_steps is None else lineage.prior_steps + step,
                "total_wall_seconds": None if lineage.prior_wall is None else round(lineage.prior_wall + wall, 1),
                "init_from_sha256": lineage.source_sha256,
                "config": config.record(),
                "objectives": [o.name for o in run.recipe.objectives],
                **run.recipe.record,
                **(run.pairing.record if run.pairing is not None else {}),
                "validation": validation,
            },
        },
    )


def set_up_run(config: TrainConfig, log: Callable[[str], None]) -> TrainingRun:
    """Check ``config``, pick the device, list the data, build the recipe and the parts and load
    the start (``--resume`` state or ``--init-from`` weights)."""
    task, config = checked_config(config)
    space = task.alpha_space(config)
    device = training_device(config)
    data = training_data(config, task, device, log)
    pairing = training_pairing(config, task, data.files, log)
    recipe = task.recipe(config, device)
    if config.fixed_alpha is not None:
        space.parse(config.fixed_alpha)  # a bad alpha: one line, before the network is built
    net, parts, adversary = build_parts(config, task, space, recipe, device)
    if config.resume:
        lineage = resumed_lineage(config, parts)
        log(f"resumed from {config.resume} at step {lineage.step}")
    elif config.init_from:
        lineage = warm_start(config, task, net, device, log)
    else:
        lineage = Lineage(commands=[config.command])
    if lineage.step >= config.steps:
        raise UsageError(f"the state is at step {lineage.step}, not before --steps {config.steps}; raise --steps")
    return TrainingRun(config, task, space, device, data, recipe, net, parts, adversary, lineage, pairing)


def training_pairing(config: TrainConfig, task: Task, files: list[Path], log: Callable[[str], None]) -> Pairing | None:
    """The task's reference images for the training ``files`` (:meth:`Task.pairing`), their
    manifest hash added to what the card records; None when the task pairs none."""
    pairing = task.pairing(config, files)
    if pairing is None:
        return None
    if len(pairing.files) != len(files):
        raise ValueError(f"the {task.name} task paired {len(pairing.files)} references with {len(files)} files")
    references_hash = manifest_sha256(pairing.files)
    log(f"{len(pairing.files)} reference images paired, manifest sha256 {references_hash[:16]}…")
    return replace(pairing, record={**pairing.record, "references_manifest_sha256": references_hash})


def step_omega(run: TrainingRun, generator: torch.Generator) -> Tensor:
    """``(batch, p)`` ω of one step: sampled (in ``omega_groups``), or a fixed-alpha baseline's
    one ω for every sample."""
    config = run.config
    if config.fixed_alpha is None:
        return sample_grouped_omega(run.space, config.batch, config.omega_groups, config.corner_share, generator)
    fixed = run.space.parse(config.fixed_alpha).omega
    return torch.tensor(fixed, dtype=torch.float32).expand(config.batch, run.space.p)


@dataclass
class LossLog:
    """The step losses as they are read: the first, the running window since the last log line
    and an exponential moving average (for the live display)."""

    first: float = float("nan")
    last: float = float("nan")
    smoothed: float = float("nan")
    window: list[float] = field(default_factory=list)
    pending: list[Tensor] = field(default_factory=list)

    def read(self) -> None:
        """Read the pending (device) losses into the window."""
        for value in torch.stack(self.pending).tolist() if self.pending else []:
            self.window.append(value)
            if math.isnan(self.first):
                self.first = value
            self.smoothed = value if math.isnan(self.smoothed) else 0.98 * self.smoothed + 0.02 * value
        self.pending = []

    def close_window(self) -> float:
        """The mean loss of the window, which starts anew."""
        if self.window:
            self.last = float(np.mean(self.window))
        self.window = []
        return self.last


def train_step(run: TrainingRun, crops: np.ndarray, step: int, generator: torch.Generator) -> Tensor:
    """One optimizer step on the crops of ``step`` (batch made on the CPU from the seeded
    generator: the same batches on every device); returns the loss, detached."""
    config = run.config
    generator.manual_seed(config.seed * 1_000_003 + step)
    omega = step_omega(run, generator)
    if run.pairing is None:
        batch = run.task.make_batch(torch.from_numpy(crops), omega, generator, config, run.recipe)
    else:  # the reference crops travel as channels 3–5 (ImageFolder) and join the batch here
        clean = torch.from_numpy(np.ascontiguousarray(crops[:, :3]))
        batch = run.task.make_batch(clean, omega, generator, config, run.recipe)
        batch = replace(batch, references=torch.from_numpy(np.ascontiguousarray(crops[:, 3:])))
    batch = batch.to(run.device)
    for group in run.parts[0].optimizer.param_groups:
        group["lr"] = learning_rate(config, step)
    if run.adversary is not None:
        for group in run.adversary.optimizer.param_groups:
            group["lr"] = learning_rate(config, step, peak=_d_lr(config))
    # a fixed-alpha baseline shares its one ω over the whole batch
    groups = 1 if config.fixed_alpha is not None else config.omega_groups
    return optimizer_step(run.net, run.parts[0].optimizer, batch, run.recipe, config, groups, run.adversary)


def run_steps(
    run: TrainingRun, log: Callable[[str], None], progress: Callable[[TrainStatus], None] | None
) -> tuple[int, float, LossLog, dict[str, float]]:
    """Train from the start's step to ``--steps``: log, validate and write the resumable state as
    configured. Returns the last step, the wall seconds of all the run's sessions, the losses and
    the latest validation."""
    config, start = run.config, run.lineage.step
    history, losses, generator, step = run.lineage.validation, LossLog(), torch.Generator(), start
    began, state_path = time.monotonic(), resume_path(Path(config.out))
    run.net.train()
    pairing = run.pairing
    references, grid = (None, 1) if pairing is None else (pairing.files, pairing.grid)
    images = ImageFolder(run.data.files, references=references, grid=grid)
    for crops in prefetch_batches(
        images, config.batch, run.recipe.crop, config.seed, start, config.steps, workers=config.data_workers, grid=grid
    ):
        losses.pending.append(train_step(run, crops, step, generator))
        step += 1
        logged = step % config.log_every == 0 or step == config.steps
        # reading a loss waits for the GPU, so on one the losses are read 16 steps at a time
        if run.device.type == "cpu" or step % 16 == 0 or logged:
            losses.read()
        if logged:
            rate = (step - start) / max(1e-9, time.monotonic() - began)
            mean = losses.close_window()
            log(f"step {step}/{config.steps} loss {mean:.5f} lr {learning_rate(config, step):.2e} {rate:.2f} steps/s")
        if run.data.val_cases and (step % config.val_every == 0 or step == config.steps):
            history = validate(run.net, run.task, run.data.val_cases, run.device)
            log(f"step {step} validation " + " ".join(f"{k}={v:.2f}" for k, v in history.items()))
        if progress is not None:
            progress(TrainStatus(step, config.steps, losses.smoothed, learning_rate(config, step), history))
        if step % config.checkpoint_every == 0 and step < config.steps:
            wall = run.lineage.elapsed + time.monotonic() - began
            meta = run_metadata(run, step, history, wall)
            save_state(
                state_path, run.parts, {**meta, "resume": {"step": step, "wall_seconds": wall, "validation": history}}
            )
    losses.close_window()
    return step, run.lineage.elapsed + time.monotonic() - began, losses, history


def train(
    config: TrainConfig,
    log: Callable[[str], None] = lambda _: None,
    progress: Callable[[TrainStatus], None] | None = None,
) -> TrainResult:
    """Run (or resume) training of ``config.task``; writes periodic resume states and the final
    checkpoint.

    ``log`` gets a line at start-up, every ``log_every`` steps and at each validation;
    ``progress`` (for a live display) gets a :class:`TrainStatus` after every step."""
    run = set_up_run(config, log)
    step, wall, losses, history = run_steps(run, log, progress)
    out = Path(run.config.out)
    final = run_metadata(run, step, history, wall)
    save_checkpoint(out, run.net.state_dict(), final)
    # the final state stays resumable, e.g. to continue with a longer --steps
    save_state(
        resume_path(out), run.parts, {**final, "resume": {"step": step, "wall_seconds": wall, "validation": history}}
    )
    log(f"wrote {out} after {step} steps ({wall / 60:.1f} min)")
    return TrainResult(out, step, wall, losses.first, losses.last, history)


def _d_lr(config: TrainConfig) -> float:
    return config.d_lr if config.d_lr is not None else config.lr / 2
