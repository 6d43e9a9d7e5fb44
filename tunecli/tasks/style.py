"""Tunable style transfer: one feed-forward network, a simplex of p styles.

Each alpha axis is one painting (``--style FILE``, one per axis, named after the file). The
per-sample loss is the paper's parametric multi-loss over p style objectives,
``content_weight·L_content + Σᵢ ωᵢ·style_weight·L_styleᵢ + tv_weight·TV``: the content loss is
the VGG relu2_1 feature distance to the photo, each style loss the Gram distance to painting i
on relu1_1, relu2_1 and relu3_1 at full and half scale (the shipped VGG-19 stops at relu3_1,
so the half-scale copy lets those layers see larger brush strokes). Corners are single styles,
interior points mixes. The network uses instance normalization, so it is not tile-exact (see
:mod:`tunecli.archs.stylenet`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.errors import UsageError
from tunecli.tasks.options import TaskOption
from tunecli.tasks.registry import (
    EvalColumn,
    EvalOptions,
    EvalReport,
    MeasuredResults,
    ModelRunner,
    Objective,
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

    from tunecli.losses.features import VGGFeatures

CONTENT_LAYERS = ("relu2_1",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
STYLE_SCALES = (1.0, 0.5)
assert set(CONTENT_LAYERS) <= set(STYLE_LAYERS) and STYLE_SCALES[0] == 1.0  # one shared pass
CONTENT_WEIGHT = 1.0
#: with Grams normalized by C·H·W and summed over C×C, the style losses of a photo to a painting
#: are ~10-50 and the content loss of a destroyed photo ~2: at weight 1 a 300-step trial keeps
#: the content recognizable and the style strong (at 10 and above the content is lost)
STYLE_WEIGHT = 1.0
TV_WEIGHT = 1e-2
#: paintings are resized so their longer side is this many pixels before their Grams are taken
STYLE_SIDE = 384


_NAMED = re.compile(r"([a-z][a-z0-9_]*)=(.+)")


def style_file(spec: str | Path) -> str:
    """The painting file of a ``--style`` value: ``NAME=FILE`` or a plain ``FILE``."""
    named = _NAMED.fullmatch(str(spec))
    return named.group(2) if named else str(spec)


def style_name(spec: str | Path) -> str:
    """The axis name of a ``--style`` value: ``NAME`` of ``NAME=FILE`` (lower-case letters,
    digits and ``_``, starting with a letter), else the file's stem, lower case, runs of other
    characters than letters and digits as ``_`` (``Starry Night.jpg`` → ``starry_night``)."""
    named = _NAMED.fullmatch(str(spec))
    if named:
        return named.group(1)
    return re.sub(r"[^a-z0-9]+", "_", Path(spec).stem.lower()).strip("_") or "style"


#: Public-domain paintings known by the SHA-256 of their image file — the copies in
#: jcjohnson/fast-neural-style's ``images/styles`` that the shipped ``style-mix`` learnt — so that
#: an axis says which painting it is: title, painter, year.
KNOWN_PAINTINGS = {
    "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098": "The Starry Night, Vincent van Gogh, 1889",
    "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee": "The Scream, Edvard Munch, 1893",
    "14bcf58a39b7095168f27756d76d0c615bb8954acc5eae9e62c66a9684c2ee2b": (
        "The Great Wave off Kanagawa, Katsushika Hokusai, c. 1831"
    ),
    "8f992ed4aecd6dd56972d7bc8166761de7c94e670ee6effa8fd05f3daeb33409": "Composition VII, Wassily Kandinsky, 1913",
}


def painting_title(path: str | Path) -> str | None:
    """``title, painter, year`` of a painting file in :data:`KNOWN_PAINTINGS` (found by its
    SHA-256), else None (another file, or none there)."""
    try:
        return KNOWN_PAINTINGS.get(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    except OSError:
        return None


def _bare_meaning(name: str, file: str = "") -> str:
    """What an axis says of a painting tunecli does not know: its name (and file)."""
    return f"the style of {name}" + (f" ({Path(file).name})" if file else "")


def alpha_space(names: Sequence[str], files: Sequence[str] = ()) -> AlphaSpace:
    """A p = len(names) simplex whose corners are the named styles (default: the centre); with
    ``files`` each axis's meaning says which painting it is (:func:`painting_title`), or names
    its file."""
    p = len(names)
    padded = [*files, *[""] * (p - len(files))]
    meanings = [(painting_title(f) if f else None) or _bare_meaning(n, f) for n, f in zip(names, padded, strict=True)]
    return AlphaSpace(
        p=p,
        domain="simplex",
        axes=tuple(AlphaAxis(n, m) for n, m in zip(names, meanings, strict=True)),
        default=tuple(1.0 / p for _ in names),
        low=f"{names[0]}: {meanings[0]}" if p == 2 else "",
        high=f"{names[1]}: {meanings[1]}" if p == 2 else "",
    )


def _read_painting(path: str) -> Tensor:
    """A painting as float32 ``(1, 3, h, w)``, its longer side :data:`STYLE_SIDE` px."""
    import torch.nn.functional as F

    from tunecli.imageio import read_rgb
    from tunecli.tensors import image_to_batch

    pixels = image_to_batch(read_rgb(path))
    scale = STYLE_SIDE / max(pixels.shape[-2:])
    size = (max(8, round(pixels.shape[-2] * scale)), max(8, round(pixels.shape[-1] * scale)))
    return F.interpolate(pixels, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def painting_grams(extractor: VGGFeatures, files: Sequence[str]) -> list[dict[str, Tensor]]:
    """The Gram matrices (:func:`~tunecli.losses.perceptual.style_grams`) of each painting
    (``files``: ``--style`` values, ``NAME=FILE`` or ``FILE``)."""
    from tunecli.losses.perceptual import style_grams

    device = next(extractor.parameters()).device
    return [style_grams(extractor, _read_painting(style_file(f)).to(device), STYLE_LAYERS, STYLE_SCALES) for f in files]


class SharedFeatures:
    """One pass of the feature network per training step, shared by the content objective and
    every style objective (p + 1 objectives would otherwise run it 2p + 2 times).

    Results are kept for the last output tensor seen (by identity): the objectives of one step
    all get the same ``out``; the next step's new tensor replaces them."""

    def __init__(self, extractor: VGGFeatures) -> None:
        self.extractor = extractor
        self._out: Tensor | None = None
        self._grams: dict[str, Tensor] = {}
        self._features: dict[str, Tensor] = {}
        self._targets: Tensor | None = None
        self._target_features: dict[str, Tensor] = {}

    def _refresh(self, out: Tensor) -> None:
        if self._out is not out:
            from tunecli.losses.perceptual import gram_matrix, output_grams, style_key

            self._out = out
            # the scale-1 pass serves the content layers (a subset of the style layers) too
            self._features = self.extractor(out, STYLE_LAYERS)
            self._grams = {style_key(layer, 1.0): gram_matrix(self._features[layer]) for layer in STYLE_LAYERS}
            smaller = [scale for scale in STYLE_SCALES if scale != 1.0]
            if smaller:
                self._grams.update(output_grams(self.extractor, out, STYLE_LAYERS, smaller))

    def grams(self, out: Tensor) -> dict[str, Tensor]:
        """Grams of ``out`` ``(B, 3, H, W)`` at every style layer and scale, with gradient."""
        self._refresh(out)
        return self._grams

    def content(self, out: Tensor, targets: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Content-layer features of ``out`` (with gradient) and of ``targets`` (without)."""
        import torch

        self._refresh(out)
        if self._targets is not targets:
            with torch.no_grad():
                self._target_features = self.extractor(targets, CONTENT_LAYERS)
            self._targets = targets
        return self._features, self._target_features


class StyleTask(Task):
    name = "style"
    summary = "Stylize; alpha mixes the model's styles (name=weight,...)."
    #: a mix of two of the default model's four styles (the others at 0)
    example_alpha = "starry=0.5,wave=0.5"
    default_model = "style-mix"
    default_arch = "stylenet"
    train_options = (
        TaskOption(
            "features",
            str,
            None,
            "Frozen feature network for the content and style losses: the partial VGG-19 .pth file or its "
            "folder (never shipped; required).",
            metavar="PATH",
        ),
        TaskOption(
            "styles",
            str,
            [],
            "A painting, one per alpha axis, named NAME (default: the file's stem); repeat for each style.",
            flag="--style",
            metavar="[NAME=]FILE",
            many=True,
        ),
        TaskOption("content_weight", float, CONTENT_WEIGHT, "Weight of the content loss."),
        TaskOption("style_weight", float, STYLE_WEIGHT, "Weight of each style loss."),
        TaskOption("tv_weight", float, TV_WEIGHT, "Weight of the total-variation loss."),
    )
    eval_options = (
        TaskOption(
            "features",
            str,
            None,
            "Frozen VGG-19 file or folder for the content and style losses (required).",
            metavar="PATH",
        ),
        TaskOption(
            "styles",
            str,
            [],
            "The paintings, one per alpha axis in order (required).",
            flag="--style",
            metavar="[NAME=]FILE",
            many=True,
        ),
    )

    measured = (
        MeasuredResults(
            "6d8a997e06ea1e88bd9396b2a46c479371b95bc84c755ed4be4f4e1c19677aec",  # weights/style-mix
            (
                ("starry", "at its corner style loss 2.02, content loss 2.995 (a one-style twin: 0.9347, 2.751)"),
                ("wave", "at its corner style loss 1.394, content loss 2.505 (a one-style twin: 0.8613, 2.029)"),
                ("edge", "starry → wave: each painting's style loss falls monotonically towards its corner"),
                ("photos", "5 of test/StyleContent, longer side 512 px; losses as trained (lower: closer)"),
            ),
            (
                "python bench/style_corners.py DATA_DIR --model weights/style-mix.safetensors "
                "--twin starry=runs/style-only-starry.safetensors --twin wave=runs/style-only-wave.safetensors "
                "--features DATA_DIR/weights/vgg19_normalised_wct --style starry=S/starry_night.jpg "
                "--style scream=S/the_scream.jpg --style wave=S/wave.jpg --style kandinsky=S/composition_vii.jpg "
                "--edge starry,wave (S = DATA_DIR/style/fast-neural-style)",
            ),
            ("bench/results/style_corners.md",),
        ),
    )

    def card_alpha_space(self, space: AlphaSpace, meta: dict[str, Any], sha256: Callable[[], str]) -> AlphaSpace:
        """Cards written before the axes named their paintings (``the style of starry``) get
        the painting's title, painter and year when the card's recorded painting (its SHA-256,
        ``training.styles``) is one of :data:`KNOWN_PAINTINGS`."""
        recorded = meta.get("training", {}).get("styles") if isinstance(meta.get("training"), dict) else None
        if not isinstance(recorded, list):
            return space
        known = {
            str(entry.get("name")): KNOWN_PAINTINGS[entry["sha256"]]
            for entry in recorded
            if isinstance(entry, dict) and entry.get("sha256") in KNOWN_PAINTINGS
        }

        def better(name: str, text: str) -> str:
            bare = text == _bare_meaning(name) or text.startswith(_bare_meaning(name) + " (")
            return known[name] if bare and name in known else text

        axes = tuple(replace(axis, meaning=better(axis.name, axis.meaning)) for axis in space.axes)
        low, high = space.low, space.high
        if space.p == 2:
            first, second = (axis.name for axis in space.axes)
            low = f"{first}: {known[first]}" if low == _bare_meaning(first) and first in known else low
            high = f"{second}: {known[second]}" if high == _bare_meaning(second) and second in known else high
        return replace(space, axes=axes, low=low, high=high)

    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        if config is None or len(config.task_options["styles"]) < 2:
            raise UsageError("tunecli train style needs two or more paintings: --style A.jpg --style B.jpg ...")
        names = [style_name(f) for f in config.task_options["styles"]]
        if len(set(names)) != len(names):
            raise UsageError(f"the --style files need distinct names, got {', '.join(names)}")
        return alpha_space(names, [style_file(f) for f in config.task_options["styles"]])

    def check_config(self, config: TrainSettings) -> None:
        self.alpha_space(config)  # two or more paintings with distinct names
        if not config.task_options["features"]:
            raise UsageError("tunecli train style needs the frozen feature network: --features PATH")
        for spec in config.task_options["styles"]:
            if not Path(style_file(spec)).is_file():
                raise UsageError(f"{style_file(spec)}: style painting not found")

    def recipe(self, config: TrainSettings, device: torch.device) -> TrainingRecipe:
        import hashlib

        from tunecli.losses.features import load_feature_extractor
        from tunecli.losses.perceptual import feature_distance, gram_distance, total_variation

        self.check_config(config)
        extractor = load_feature_extractor(config.task_options["features"]).to(device)
        grams = painting_grams(extractor, config.task_options["styles"])
        content_weight = config.task_options["content_weight"]
        style_weight = config.task_options["style_weight"]
        tv_weight = config.task_options["tv_weight"]
        shared = SharedFeatures(extractor)

        def content(out: Tensor, batch: TrainBatch) -> Tensor:
            out_features, target_features = shared.content(out, batch.targets)
            return content_weight * feature_distance(out_features, target_features, CONTENT_LAYERS, distance="l2")

        def style_objective(index: int) -> Objective:
            def loss(out: Tensor, batch: TrainBatch) -> Tensor:
                return style_weight * gram_distance(shared.grams(out), grams[index], STYLE_LAYERS)

            return Objective(f"style:{style_name(config.task_options['styles'][index])}", loss)

        def smoothness(out: Tensor, batch: TrainBatch) -> Tensor:
            return tv_weight * total_variation(out)

        def weights(omega: Tensor) -> Tensor:
            import torch

            ones = omega.new_ones(omega.shape[0], 1)
            return torch.cat([ones, omega, ones], dim=1)  # content + Σ ωᵢ·styleᵢ + TV

        return TrainingRecipe(
            objectives=(
                Objective("content", content),
                *(style_objective(i) for i in range(len(config.task_options["styles"]))),
                Objective("tv", smoothness),
            ),
            weights=weights,
            crop=config.patch,
            record={
                "features_sha256": extractor.sha256,
                "styles": [
                    {
                        "name": style_name(f),
                        "file": Path(style_file(f)).name,
                        "sha256": hashlib.sha256(Path(style_file(f)).read_bytes()).hexdigest(),
                    }
                    for f in config.task_options["styles"]
                ],
                "weights": {"content": content_weight, "style": style_weight, "tv": tv_weight},
            },
        )

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainSettings, recipe: TrainingRecipe
    ) -> TrainBatch:
        return TrainBatch(clean, clean, omega)

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        """Centre crops (≤ 256 px) at every corner; scored by PSNR to the photo (how much of
        the content survives: lower means more stylized)."""

        cases = []
        p = len(config.task_options["styles"])
        for image in images:
            clean = validation_crop(image)
            for i in range(p):
                corner = tuple(1.0 if j == i else 0.0 for j in range(p))
                cases.append(
                    ValidationCase(f"content_psnr_{style_name(config.task_options['styles'][i])}", clean, clean, corner)
                )
        return cases

    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """Content loss (relu2_1 feature MSE to the photo) and the style loss to each painting
        (Grams, as trained) at every corner and the centre, or at each ``--alpha``; needs
        ``--features`` and the paintings as ``--style``, one per axis in axis order."""
        own = self.resolve_options("eval", options.task_options)  # defaults for options not given
        import numpy as np
        import torch

        from tunecli.losses.features import load_feature_extractor
        from tunecli.losses.perceptual import feature_loss, style_loss
        from tunecli.tensors import image_to_batch

        space = restorer.alpha_space
        if not own["features"]:
            raise UsageError("tunecli eval of a style model needs --features PATH (the VGG-19 it was trained with)")
        if len(own["styles"]) != space.p:
            raise UsageError(
                f"{restorer.model.name} has {space.p} styles ({', '.join(space.names)}); pass one --style each"
            )
        extractor = load_feature_extractor(own["features"])
        grams = painting_grams(extractor, list(own["styles"]))
        if options.alphas:
            alphas = [restorer.parse_alpha(a).omega for a in options.alphas]
        else:
            alphas = [tuple(1.0 if j == i else 0.0 for j in range(space.p)) for i in range(space.p)]
            alphas.append(space.validate(tuple(1.0 / space.p for _ in range(space.p))))
        rows: list[dict[str, Any]] = []
        for omega in alphas:
            content, styles = [], [[] for _ in range(space.p)]
            for image in images:
                out = restorer.run(image.astype(np.float32), alpha=omega, tile=options.tile)
                out_t, in_t = image_to_batch(out), image_to_batch(image)
                with torch.no_grad():
                    content.append(float(feature_loss(extractor, out_t, in_t, CONTENT_LAYERS, distance="l2")[0]))
                    for i in range(space.p):
                        styles[i].append(float(style_loss(extractor, out_t, grams[i], STYLE_LAYERS)[0]))
            row: dict[str, Any] = {"alpha": space.label(omega), "content": round(float(np.mean(content)), 5)}
            for name, values in zip(space.names, styles, strict=True):
                row[f"style_{name}"] = float(f"{np.mean(values):.4g}")
            rows.append(row)
        columns = [EvalColumn("alpha", "alpha"), EvalColumn("content", "content loss", ".4f")]
        columns += [EvalColumn(f"style_{n}", f"style loss {n}", ".3g") for n in space.names]
        return EvalReport(columns, rows, notes=["style losses are Gram distances (x1, unweighted) at scales 1 and 0.5"])


TASK = register_task(StyleTask())
