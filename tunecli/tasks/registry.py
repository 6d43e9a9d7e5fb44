"""The task protocol and registry: everything that differs between denoise, deblur, upscale, style.

A :class:`Task` declares its command (name, one-line help, example alpha), its alpha space, its
default model and architecture, how a training batch is made for per-sample ω, the objectives
whose ω-weighted sum is the loss (the paper's parametric multi-loss), how validation inputs are
made and how a model of the task is evaluated. The CLI commands, the default models,
``tunecli train TASK``, ``tunecli eval`` and ``tunecli models`` all read this registry, so adding
a task is adding one module to :mod:`tunecli.tasks` (and its architecture, if new).

Importing this module (and listing tasks) does not import torch: ``tunecli --help`` builds the
commands from the registry. Task methods that need torch import it themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaSpace, Omega

if TYPE_CHECKING:
    import numpy as np
    from torch import Generator, Tensor, device

    from tunecli.api import Restorer
    from tunecli.training.loop import TrainConfig

#: The task modules shipped with tunecli, in command order.
BUILTIN_TASK_MODULES = (
    "tunecli.tasks.denoise",
    "tunecli.tasks.deblur",
    "tunecli.tasks.upscale",
    "tunecli.tasks.style",
)


@dataclass(frozen=True)
class TrainBatch:
    """One training batch on the training device.

    ``inputs``: float32 ``(B, C, h, w)``, what the network sees; ``targets``: float32
    ``(B, C, h·scale, w·scale)``, what its output is compared with (for style: the content
    images); ``omega``: ``(B, p)``, each sample's tuning vector.
    """

    inputs: Tensor
    targets: Tensor
    omega: Tensor

    def to(self, device: Any) -> TrainBatch:
        return TrainBatch(self.inputs.to(device), self.targets.to(device), self.omega.to(device))


@dataclass(frozen=True)
class Objective:
    """One objective Lᵢ of the multi-loss: ``loss(output, batch) -> (B,)`` per-sample losses.

    ``adversarial``: the objective uses the discriminator's logits, passed as a third argument
    ``loss(output, batch, logits)`` (``(B, …)`` logits of the output); the trainer then trains a
    discriminator alongside, on the samples in proportion to this objective's weight.
    """

    name: str
    loss: Callable[..., Tensor]
    adversarial: bool = False


@dataclass(frozen=True)
class TrainingRecipe:
    """How a task is trained, built for one run by :meth:`Task.recipe`.

    ``objectives`` L₀ … L_{k−1} and ``weights(omega (B, p)) -> (B, k)``: the per-sample loss is
    ``Σⱼ weights[b, j] · Lⱼ(output_b, target_b)`` and the step loss its batch mean. For the
    paper's parametric multi-loss over p objectives ``weights`` is ω itself; a task whose ω picks
    the degradation instead (denoise, deblur) has one objective of weight 1. ``crop``: the side
    of the clean patches (``patch·scale`` for super-resolution). ``record``: facts the card keeps
    (e.g. the feature network's sha256, the style files).
    """

    objectives: tuple[Objective, ...]
    weights: Callable[[Tensor], Tensor]
    crop: int
    #: the output/input size ratio the network must have
    scale: int = 1
    record: dict[str, Any] = field(default_factory=dict)
    #: keyword arguments of the :class:`~tunecli.losses.adversarial.PatchDiscriminator` of an
    #: adversarial recipe
    discriminator: dict[str, Any] = field(default_factory=dict)

    @property
    def adversarial(self) -> bool:
        return any(o.adversarial for o in self.objectives)


@dataclass(frozen=True)
class ValidationCase:
    """A held-aside validation input at one ω: float32 ``(1, C, h, w)`` input, ``(1, C, H, W)``
    target, on the host; ``label`` names the score (e.g. ``psnr_sigma25``)."""

    label: str
    input: Tensor
    target: Tensor
    omega: Omega


@dataclass(frozen=True)
class EvalColumn:
    """A column of ``tunecli eval``'s table: the row key, its header and a format spec."""

    key: str
    header: str
    format: str = ""


@dataclass
class EvalReport:
    """What ``tunecli eval`` prints: columns and rows (dicts keyed by column key, JSON-safe)."""

    columns: list[EvalColumn]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EvalOptions:
    """The options of ``tunecli eval`` (each task reads those it takes, see :attr:`Task.eval_options`).

    ``alphas``: explicit alphas to score (None: the task's own choice, e.g. the matching alpha or
    the corners); ``sigmas``: noise levels (0–255); ``noise_kinds``: ``float``/``8bit``;
    ``kernels``: a kernel file (deblur); ``features``: the feature network file; ``styles``:
    painting files (style); ``seed``; ``tile``: tile side or ``auto``/0.
    """

    alphas: Sequence[str] | None = None
    sigmas: Sequence[float] | None = None
    noise_kinds: Sequence[str] = ("float", "8bit")
    kernels: str | None = None
    features: str | None = None
    styles: Sequence[str] = ()
    seed: int = 0
    tile: int | str = 0


def validation_crop(image: np.ndarray, size: int = 256, multiple: int = 4) -> Tensor:
    """The centred square of ``image`` float32 ``(H, W, 3)`` of side ``min(size, H, W)`` rounded
    down to ``multiple``, as a float32 ``(1, 3, side, side)`` batch on the host."""
    import torch

    h, w = image.shape[:2]
    side = min(size, h, w) // multiple * multiple
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    return torch.from_numpy(crop.transpose(2, 0, 1).copy()).float()[None]


def degradation_recipe(config: TrainConfig) -> TrainingRecipe:
    """The recipe of a task whose ω picks the degradation (denoise, deblur): one pixel objective
    (``config.loss``) of weight 1 for every ω, on ``config.patch``-px crops."""
    from tunecli.losses.pixel import PIXEL_LOSSES

    pixel = PIXEL_LOSSES[config.loss]
    return TrainingRecipe(
        objectives=(Objective(config.loss, lambda out, batch: pixel(out, batch.targets)),),
        weights=lambda omega: omega.new_ones(omega.shape[0], 1),
        crop=config.patch,
    )


class Task:
    """Base class of a task; subclasses set the class attributes and override the methods.

    Class attributes: ``name`` (the command), ``summary`` (one-line help), ``example_alpha`` (for
    the help's examples), ``default_model`` (shipped model name), ``default_arch`` and
    ``default_hparams`` (what ``tunecli train`` builds), ``scale`` (output/input size ratio of the
    default model), ``eval_options`` (the ``tunecli eval`` options it takes) and ``train_options``
    (task-specific ``tunecli train`` options it takes; the others are refused).
    """

    name: str = ""
    summary: str = ""
    example_alpha: str = "0.5"
    default_model: str = ""
    default_arch: str = "unet"
    default_hparams: dict[str, Any] = {}  # noqa: RUF012 - read-only defaults
    scale: int = 1
    #: the scales the task's command offers with ``--scale`` (empty: no ``--scale``)
    scales: tuple[int, ...] = ()
    eval_options: frozenset[str] = frozenset()
    train_options: frozenset[str] = frozenset()

    # ---- description (no torch) ----------------------------------------------------------
    def alpha_space(self, config: TrainConfig | None = None) -> AlphaSpace:
        """The alpha space a model of this task is trained with (``config`` may name it, e.g.
        the styles of a style model)."""
        raise NotImplementedError

    def model_for_scale(self, scale: int | None) -> str:
        """The default model for ``--scale`` (None: :attr:`default_model`)."""
        return self.default_model

    def arch_defaults(self, config: TrainConfig) -> dict[str, Any]:
        """Hyper-parameters the task suggests for ``config``'s architecture; those of ``--hparams``,
        a ``--resume`` state or an ``--init-from`` checkpoint override them."""
        return {}

    def arch_hparams(self, config: TrainConfig) -> dict[str, Any]:
        """Hyper-parameters the task imposes on the architecture for ``config`` (e.g. ``scale``):
        they override every other source."""
        return {}

    def alpha_for_noise(self, space: AlphaSpace, sigma: float) -> Omega | None:
        """The tuning vector for an image with noise of level ``sigma`` (AWGN, 0–255 scale, as
        :func:`tunecli.estimation.noise.estimate_noise_sigma` estimates it), for a model of this
        task with alpha space ``space``: what ``--alpha auto`` runs at. None when the task, or
        this space, has no such mapping (``--alpha auto`` is then refused); by default None.
        A task that maps noise levels overrides this method."""
        return None

    def omega_map_from(self, source_task: str) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]] | None:
        """How a checkpoint of ``source_task`` warm-starts a model of this task
        (``tunecli train --init-from``): ``(offset, matrix)`` of the affine map ω_source =
        offset + matrix @ ω_this, which :func:`tunecli.layers.remap_omega` bakes into the new
        network so that it starts out computing the source model; None (the default) when no
        such start makes sense."""
        return None

    @property
    def maps_noise(self) -> bool:
        """Whether the task overrides :meth:`alpha_for_noise` (offers ``--alpha auto``)."""
        return type(self).alpha_for_noise is not Task.alpha_for_noise

    # ---- training ----------------------------------------------------------------------
    def check_config(self, config: TrainConfig) -> None:
        """Refuse a training config the task cannot run (one-line UsageError), before any data
        is read; by default every config is fine."""

    def recipe(self, config: TrainConfig, device: device) -> TrainingRecipe:
        """Objectives, their ω-weights and the crop size for a training run on ``device`` (the
        objectives' own networks and references, e.g. a feature network, live there)."""
        raise NotImplementedError

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainConfig, recipe: TrainingRecipe
    ) -> TrainBatch:
        """The training batch for clean crops ``clean`` float32 ``(B, 3, crop, crop)`` in [0, 1]
        (on the host) at per-sample ``omega`` ``(B, p)``; random draws come from ``generator``
        only, so a batch is a function of (seed, step) and the same on every device."""
        raise NotImplementedError

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainConfig) -> list[ValidationCase]:
        """Seeded validation inputs from held-aside clean images (float32 ``(H, W, 3)`` in [0, 1])."""
        raise NotImplementedError

    def validation_score(self, output: Tensor, case: ValidationCase) -> float:
        """The score of one validation output ``(1, C, H, W)`` (host, float32): by default PSNR
        in dB of the 8-bit quantized output against ``case.target``."""
        from tunecli.evaluation.metrics import psnr, quantize_8bit

        return psnr(quantize_8bit(output[0].permute(1, 2, 0).numpy()), case.target[0].permute(1, 2, 0).numpy())

    # ---- evaluation --------------------------------------------------------------------
    def evaluate(self, restorer: Restorer, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """Score ``restorer`` (a model of this task) on clean images (float32 ``(H, W, 3)``)."""
        raise NotImplementedError


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to the registry (after the built-in tasks, which are loaded first); a second
    task of the same name raises ``ValueError``."""
    _load_builtins()
    if not task.name or not task.summary or not task.default_model:
        raise ValueError(f"task {task!r} needs a name, a summary and a default model")
    existing = _TASKS.get(task.name)
    if existing is not None and type(existing).__qualname__ != type(task).__qualname__:
        raise ValueError(f"task {task.name!r} is already registered ({type(existing).__qualname__})")
    _TASKS[task.name] = task
    return task


_loading_builtins = False


def _load_builtins() -> None:
    """Import the built-in task modules (once; re-entrant: they register themselves)."""
    global _loading_builtins
    if _loading_builtins:
        return
    _loading_builtins = True
    try:
        for module in BUILTIN_TASK_MODULES:
            importlib.import_module(module)
    finally:
        _loading_builtins = False


def list_tasks() -> list[Task]:
    """Every registered task, built-in ones first in command order."""
    _load_builtins()
    return list(_TASKS.values())


def get_task(name: str) -> Task:
    """The task called ``name``; raises :class:`~tunecli.errors.UsageError` naming the known ones."""
    from tunecli.errors import UsageError

    _load_builtins()
    if name not in _TASKS:
        raise UsageError(f"unknown task {name!r}: use one of {', '.join(_TASKS)}")
    return _TASKS[name]


def default_models() -> dict[str, str]:
    """The model each task command uses when ``--model`` is not given."""
    return {task.name: task.default_model for task in list_tasks()}
