"""The task protocol and registry: everything that differs between denoise, deblur, upscale, style.

A :class:`Task` declares its command (name, one-line help, example alpha), its alpha space, its
default model and architecture, its own ``tunecli train`` and ``tunecli eval`` options
(:class:`~tunecli.tasks.options.TaskOption`), the reference images it pairs with the training
images (if any), how a training batch is made for per-sample ω, the objectives whose
ω-weighted sum is the loss (the paper's parametric multi-loss), how validation
inputs are made, how a model of the task is evaluated and how ``--alpha auto`` maps a noise
level. The CLI commands, the default models, ``tunecli train TASK``, ``tunecli eval`` and
``tunecli models`` all read this registry, so adding a task is adding one module — in
:mod:`tunecli.tasks` or anywhere, registered with :func:`register_task` (and its architecture,
if new).

Imports run downhill: tasks use alpha spaces, layers, architectures, losses, degradations and
image I/O; the trainer, the API and the CLI use tasks. What a task needs of them is stated here
as protocols (:class:`TrainSettings`, :class:`ModelRunner`).

Importing this module (and listing tasks) does not import torch: ``tunecli --help`` builds the
commands from the registry. Task methods that need torch import it themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tunecli.alpha import AlphaSpace, Omega, ParsedAlpha
from tunecli.errors import AlphaError
from tunecli.tasks.options import TaskOption, resolve_options

if TYPE_CHECKING:
    import numpy as np
    from torch import Generator, Tensor, device

#: The task modules shipped with tunecli, in command order.
BUILTIN_TASK_MODULES = (
    "tunecli.tasks.denoise",
    "tunecli.tasks.deblur",
    "tunecli.tasks.upscale",
    "tunecli.tasks.style",
)


class TrainSettings(Protocol):
    """What a task reads of a training run's settings (:class:`tunecli.training.loop.TrainConfig`):
    the generic ones and ``task_options``, the task's own :attr:`Task.train_options` resolved
    by name (every declared option present)."""

    task: str
    #: the training image folders
    data: list[str]
    arch: str | None
    patch: int
    loss: str
    task_options: dict[str, Any]


class ModelRunner(Protocol):
    """What a task's evaluation needs of a loaded model (:class:`tunecli.api.Restorer`): its
    alpha space and scale, alpha parsing, and ``run(array, alpha=…, tile=…)`` on float32
    ``(H, W, C)`` arrays in [0, 1] (output ``(H·scale, W·scale, C)``)."""

    @property
    def alpha_space(self) -> AlphaSpace: ...

    @property
    def scale(self) -> int: ...

    @property
    def model(self) -> Any: ...

    def parse_alpha(self, alpha: Any) -> ParsedAlpha: ...

    def run(self, source: Any, alpha: Any = None, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class TrainBatch:
    """One training batch on the training device.

    ``inputs``: float32 ``(B, C, h, w)``, what the network sees; ``targets``: float32
    ``(B, C, h·scale, w·scale)``, what its output is compared with (for style: the content
    images); ``omega``: ``(B, p)``, each sample's tuning vector; ``references``: float32
    ``(B, 3, crop, crop)`` in [0, 1], the task's reference images (:meth:`Task.pairing`) cut at
    the same place, flipped and rotated as the clean crops ``make_batch`` got (the trainer sets
    them after ``make_batch``); None when the task pairs none. ``extras``: tensors of the
    degradation that a recipe's :attr:`TrainingRecipe.forward` reads (e.g. each sample's blur
    kernel), by name, moved with the batch.
    """

    inputs: Tensor
    targets: Tensor
    omega: Tensor
    references: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: Any) -> TrainBatch:
        references = None if self.references is None else self.references.to(device)
        extras = {name: value.to(device) for name, value in self.extras.items()}
        return TrainBatch(self.inputs.to(device), self.targets.to(device), self.omega.to(device), references, extras)


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
    (e.g. the feature network's sha256, the style files). ``forward``: how the training output
    is made when it is not one pass of the network over ``batch.inputs`` at ``batch.omega`` —
    ``forward(network, batch)``, with ``network(x, omega)`` the network at per-sample ω ``(B, p)``
    (in the run's precision and ω groups), e.g. several passes with a data step between them
    (:func:`tunecli.pnp.unrolled.unrolled_hqs`); None: one pass.
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
    forward: Callable[[Callable[[Tensor, Tensor], Tensor], TrainBatch], Tensor] | None = None

    @property
    def adversarial(self) -> bool:
        return any(o.adversarial for o in self.objectives)


@dataclass(frozen=True)
class Pairing:
    """Reference images that travel with the training images (:meth:`Task.pairing`), e.g. a
    teacher's outputs to distil.

    ``files``: one image file per training file, in the training files' order, decoded as the
    training images are (uint8 RGB). Each must be the size of its training image or of the
    image's top-left part cropped to a multiple of ``grid`` (at most ``grid − 1`` rows and
    columns short); the trainer crops the training image to it and stacks the two, so every
    random crop, flip and rotation takes the same pixels of both, and hands the reference crops
    to the objectives as :attr:`TrainBatch.references`. ``grid``: crop offsets are multiples of
    it (a downscaling by ``s`` with ``s`` dividing ``grid`` then sees a crop on the grid the
    whole image had). ``record``: facts the card keeps; the trainer adds
    ``references_manifest_sha256``, the manifest hash of ``files``.
    """

    files: tuple[Path, ...]
    grid: int = 1
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasuredResults:
    """Headline numbers measured for one shipped checkpoint, for its card (``tunecli models
    NAME``) when the checkpoint records none itself.

    ``sha256``: the checkpoint file's hash (other files, even of the same name, get nothing);
    ``rows``: ``(what, result)`` pairs; ``commands``: the benchmark commands that measured them;
    ``sources``: the results files they wrote.
    """

    sha256: str
    rows: tuple[tuple[str, str], ...]
    commands: tuple[str, ...]
    sources: tuple[str, ...]


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
    """The options of ``tunecli eval``: the generic ones and the task's own.

    ``alphas``: explicit alphas to score (None: the task's own choice, e.g. the matching alpha or
    the corners); ``seed``: of the noise and synthetic kernels; ``tile``: tile side or
    ``auto``/0; ``task_options``: the task's :attr:`Task.eval_options` by name (every declared
    option present, see :func:`tunecli.tasks.options.resolve_options`).
    """

    alphas: Sequence[str] | None = None
    seed: int = 0
    tile: int | str = 0
    task_options: dict[str, Any] = field(default_factory=dict)


def validation_crop(image: np.ndarray, size: int = 256, multiple: int = 4) -> Tensor:
    """The centred square of ``image`` float32 ``(H, W, 3)`` of side ``min(size, H, W)`` rounded
    down to ``multiple``, as a float32 ``(1, 3, side, side)`` batch on the host."""
    from tunecli.tensors import image_to_batch

    h, w = image.shape[:2]
    side = min(size, h, w) // multiple * multiple
    top, left = (h - side) // 2, (w - side) // 2
    return image_to_batch(image[top : top + side, left : left + side]).contiguous()


#: ``tunecli train`` option of the tasks whose ω picks a degradation (denoise, deblur)
QUANTIZE_SHARE = TaskOption(
    "quantize_share",
    float,
    0.5,
    "Share of noisy patches saved to 8 bits (rounded, clipped); the rest keep float noise.",
    minimum=0.0,
    maximum=1.0,
)


def noise_levels_option(default: list[float]) -> TaskOption:
    """``tunecli eval``'s ``--sigma 15,25,50`` of a task that adds noise (denoise, deblur): the
    noise levels to score, 0–255 scale, ``default`` when not given."""
    return TaskOption(
        "sigmas",
        float,
        default,
        "Noise levels on the 0-255 scale, comma-separated.",
        flag="--sigma",
        many=True,
        separator=",",
        minimum=0.0,
    )


def degradation_recipe(config: TrainSettings) -> TrainingRecipe:
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
    default model), ``train_options`` and ``eval_options``: the task's own options of
    ``tunecli train TASK`` and ``tunecli eval`` (:class:`~tunecli.tasks.options.TaskOption`; the
    commands build their flags and help from these, and hand the task their values as
    ``config.task_options`` / ``options.task_options``); ``measured``: the headline numbers of
    the task's shipped checkpoints (:class:`MeasuredResults`, see :meth:`measured_results`).
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
    train_options: tuple[TaskOption, ...] = ()
    eval_options: tuple[TaskOption, ...] = ()
    #: the task whose models are the plug-and-play prior of this task's ``--kernel FILE`` runs
    #: (deblur: denoise); empty: the command has no ``--kernel``
    kernel_prior: str = ""
    #: the model of that task a ``--kernel`` run uses when ``--model`` names none (empty: that
    #: task's default model)
    kernel_prior_model: str = ""
    measured: tuple[MeasuredResults, ...] = ()

    # ---- description (no torch) ----------------------------------------------------------
    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        """The alpha space a model of this task is trained with (``config`` may name it, e.g.
        the styles of a style model)."""
        raise NotImplementedError

    def card_alpha_space(self, space: AlphaSpace, meta: dict[str, Any], sha256: Callable[[], str]) -> AlphaSpace:
        """The alpha space as ``tunecli models`` shows it: ``space`` as a checkpoint recorded it
        (``meta``: its metadata; ``sha256()``: its file's hash, computed only when called), with
        the axis texts the task now knows better for that checkpoint (e.g. what a shipped model's
        alpha 1 was measured to do). Default: as recorded."""
        return space

    def measured_results(self, sha256: Callable[[], str]) -> MeasuredResults | None:
        """The entry of :attr:`measured` for the checkpoint whose file hash ``sha256()`` gives
        (computed only when the task has entries), or None."""
        if not self.measured:
            return None
        digest = sha256()
        return next((entry for entry in self.measured if entry.sha256 == digest), None)

    def kernel_prior_name(self) -> str:
        """The model a ``--kernel`` run uses when ``--model`` names none:
        :attr:`kernel_prior_model`, else the default model of the :attr:`kernel_prior` task."""
        return self.kernel_prior_model or get_task(self.kernel_prior).default_model

    def model_for_scale(self, scale: int | None) -> str:
        """The default model for ``--scale`` (None: :attr:`default_model`)."""
        return self.default_model

    def arch_defaults(self, config: TrainSettings) -> dict[str, Any]:
        """Hyper-parameters the task suggests for ``config``'s architecture; those of ``--hparams``,
        a ``--resume`` state or an ``--init-from`` checkpoint override them."""
        return {}

    def arch_hparams(self, config: TrainSettings) -> dict[str, Any]:
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

    def resolve_options(self, kind: str, given: dict[str, Any] | None) -> dict[str, Any]:
        """This task's ``kind`` (``train``/``eval``) options: those ``given`` (by name, text or
        values) converted, the others at their defaults; an option the task does not declare
        is refused in one line naming its flag (:func:`~tunecli.tasks.options.resolve_options`)."""
        flags = {o.name: o.option_flag for t in list_tasks() for o in (t.train_options + t.eval_options)}
        declared = self.train_options if kind == "train" else self.eval_options
        return resolve_options(declared, given, f"{kind} {self.name}", flags)

    @property
    def maps_noise(self) -> bool:
        """Whether the task overrides :meth:`alpha_for_noise` (offers ``--alpha auto``)."""
        return type(self).alpha_for_noise is not Task.alpha_for_noise

    def noise_axes(self, space: AlphaSpace) -> set[str]:
        """The axes of ``space`` that :meth:`alpha_for_noise` sets (those that differ between two
        noise levels); empty when it maps none."""
        low, high = self.alpha_for_noise(space, 5.0), self.alpha_for_noise(space, 25.0)
        if low is None or high is None:
            return set()
        return {name for name, a, b in zip(space.names, low, high, strict=True) if a != b}

    def check_auto(self, space: AlphaSpace, model: str) -> None:
        """Refuse ``--alpha auto`` for a model of this task with alpha space ``space`` when the
        task maps no noise level to it: :class:`~tunecli.errors.AlphaError` (exit 2) naming the
        tasks whose models take it."""
        if self.alpha_for_noise(space, 25.0) is not None:
            return
        if self.maps_noise:
            raise AlphaError(
                f"--alpha auto: {model} has axes {', '.join(space.names)}, which the {self.name} task maps no "
                f"noise level to: pass a value (e.g. --alpha {self.example_alpha})"
            )
        names = [t.name for t in list_tasks() if t.maps_noise]
        offering = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names) or "no"
        raise AlphaError(
            f"--alpha auto picks alpha from the image's noise level, which only {offering} models map to an "
            f"alpha; {model} is for {self.name}: pass a value (e.g. --alpha {self.example_alpha})"
        )

    def fixed_part_of_auto(self, alpha: str, space: AlphaSpace, model: str) -> Omega | None:
        """The fixed part of an ``auto`` request: None for plain ``auto`` (the other axes keep the
        model's default); for ``noise=auto,blur=0.7`` the vector of the other named values
        (unnamed axes at the default) — only on a box model and only for the axes
        :meth:`noise_axes` sets, else :class:`~tunecli.errors.AlphaError`."""
        text = alpha.strip().lower()
        if text == "auto":
            return None
        parts = [part.strip() for part in text.split(",") if part.strip()]
        named = [part.partition("=") for part in parts]
        auto_axes = {name.strip() for name, _, value in named if value.strip() == "auto"}
        if space.domain != "box":
            raise AlphaError(f"--alpha {alpha}: only a box model takes auto for one axis; use --alpha auto")
        mapped = self.noise_axes(space)
        if not auto_axes <= mapped:
            wrong = ", ".join(sorted(auto_axes - mapped))
            raise AlphaError(
                f"--alpha {alpha}: {model} estimates only {', '.join(sorted(mapped))} from the image, not {wrong}"
            )
        rest = ",".join(f"{name.strip()}={value.strip()}" for name, _, value in named if value.strip() != "auto")
        return space.parse(rest).omega if rest else space.validate(space.default)

    # ---- training ----------------------------------------------------------------------
    def check_config(self, config: TrainSettings) -> None:
        """Refuse a training config the task cannot run (one-line UsageError), before any data
        is read; by default every config is fine."""

    def recipe(self, config: TrainSettings, device: device) -> TrainingRecipe:
        """Objectives, their ω-weights and the crop size for a training run on ``device`` (the
        objectives' own networks and references, e.g. a feature network, live there)."""
        raise NotImplementedError

    def pairing(self, config: TrainSettings, files: Sequence[Path]) -> Pairing | None:
        """Reference images for the training ``files`` (e.g. a teacher's outputs), which the
        trainer crops with the clean images and hands the objectives as
        :attr:`TrainBatch.references`; None (the default): the task pairs none, and the batches
        are the clean crops alone. Called once before training; a file without its reference
        is refused here, in one line (UsageError)."""
        return None

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainSettings, recipe: TrainingRecipe
    ) -> TrainBatch:
        """The training batch for clean crops ``clean`` float32 ``(B, 3, crop, crop)`` in [0, 1]
        (on the host) at per-sample ``omega`` ``(B, p)``; random draws come from ``generator``
        only, so a batch is a function of (seed, step) and the same on every device."""
        raise NotImplementedError

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        """Seeded validation inputs from held-aside clean images (float32 ``(H, W, 3)`` in [0, 1])."""
        raise NotImplementedError

    def validation_score(self, output: Tensor, case: ValidationCase) -> float:
        """The score of one validation output ``(1, C, H, W)`` (host, float32): by default PSNR
        in dB of the 8-bit quantized output against ``case.target``."""
        from tunecli.evaluation.metrics import psnr, quantize_8bit
        from tunecli.tensors import batch_to_image

        return psnr(quantize_8bit(batch_to_image(output)), batch_to_image(case.target))

    # ---- evaluation --------------------------------------------------------------------
    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """Score ``restorer`` (a model of this task) on clean images (float32 ``(H, W, 3)``)."""
        raise NotImplementedError


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to the registry; a second task of the same name raises ``ValueError``, and
    so does an option declared twice or a flag of the commands' own (``--data``, …)."""
    _load_builtins()
    if not task.name or not task.summary or not task.default_model:
        raise ValueError(f"task {task!r} needs a name, a summary and a default model")
    for kind, declared in (("train", task.train_options), ("eval", task.eval_options)):
        names = [o.name for o in declared]
        if len(set(names)) != len(names):
            raise ValueError(f"task {task.name!r} declares a {kind} option twice: {', '.join(names)}")
    existing = _TASKS.get(task.name)
    if existing is not None and type(existing).__qualname__ != type(task).__qualname__:
        raise ValueError(f"task {task.name!r} is already registered ({type(existing).__qualname__})")
    _TASKS[task.name] = task
    return task


def unregister_task(name: str) -> None:
    """Remove the task ``name`` (one registered from outside the package; e.g. by a test)."""
    if any(module.rsplit(".", 1)[1] == name for module in BUILTIN_TASK_MODULES):
        raise ValueError(f"{name!r} is a built-in task")
    _TASKS.pop(name, None)


def _order(task: Task) -> tuple[int, int]:
    """Built-in tasks first, in :data:`BUILTIN_TASK_MODULES` order (whichever module was imported
    first), then the others in registration order."""
    module = type(task).__module__
    if module in BUILTIN_TASK_MODULES:
        return (0, BUILTIN_TASK_MODULES.index(module))
    return (1, list(_TASKS).index(task.name))


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
    return sorted(_TASKS.values(), key=_order)


def get_task(name: str) -> Task:
    """The task called ``name``; raises :class:`~tunecli.errors.UsageError` naming the known ones."""
    from tunecli.errors import UsageError

    _load_builtins()
    if name not in _TASKS:
        raise UsageError(f"unknown task {name!r}: use one of {', '.join(t.name for t in list_tasks())}")
    return _TASKS[name]


def default_models() -> dict[str, str]:
    """The model each task command uses when ``--model`` is not given."""
    return {task.name: task.default_model for task in list_tasks()}
