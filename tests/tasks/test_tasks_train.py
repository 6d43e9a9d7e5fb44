"""End to end: ``train`` of deblur, upscale (fake VGG, discriminator built automatically) and
style (fake VGG, generated paintings) on tiny models; what each checkpoint records; the
validation cases of each task; and the options a task refuses.

The feature network is a random state dict in the layout of ``vgg_normalised_conv3_1.pth``:
nothing here reads ../shared/data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fake_features import write_fake_vgg
from PIL import Image
from typer.testing import CliRunner

from tunecli.checkpoint import read_header
from tunecli.cli import app
from tunecli.errors import UsageError
from tunecli.models import load_model
from tunecli.tasks import TrainingRecipe, deblur, get_task, upscale
from tunecli.tasks.style import style_name
from tunecli.training.loop import TrainConfig, train
from tunecli.training.state import resume_path

TINY = {
    "deblur": {"widths": [4, 8], "blocks": [1, 1]},
    "upscale": {"width": 4, "blocks": 1, "scale": 2},
    "style": {"widths": [4, 4, 8], "blocks": 1},
}


def smooth(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(2 * np.pi * (rng.random() * xx + rng.random() * yy) + rng.random() * 6) for _ in range(3)]
    return (np.stack(planes, axis=2) * 0.4 + 0.5).astype(np.float32)


def write_photos(folder: Path, count: int, size: int = 48, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.round(smooth(size, seed + i) * 255).astype(np.uint8)).save(folder / f"photo{i}.png")
    return folder


def write_painting(path: Path, seed: int, size: int = 64) -> Path:
    """A random colour pattern: blocky strokes of a few colours."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (4, 3))
    cells = rng.integers(0, 4, (size // 8, size // 8))
    pixels = palette[np.kron(cells, np.ones((8, 8), dtype=int))].astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tasks")
    features = root / "vgg_normalised_conv3_1.pth"
    write_fake_vgg(features)
    paintings = root / "paintings"
    paintings.mkdir()
    return {
        "data": write_photos(root / "data", 3),
        "val": write_photos(root / "val", 1, seed=10),
        "features": features,
        "style_a": write_painting(paintings / "Blue Waves.png", 1),
        "style_b": write_painting(paintings / "wheat-field.png", 2, size=72),
        "style_c": write_painting(paintings / "c.png", 3),
    }


def tiny_config(task: str, folders: dict[str, Path], out: Path, **kw: object) -> TrainConfig:
    defaults: dict[str, object] = dict(
        task=task,
        data=[str(folders["data"])],
        out=str(out),
        steps=3,
        batch=2,
        patch=32,
        warmup=1,
        hparams=TINY[task],
        val_data=[str(folders["val"])],
        val_every=1000,
        checkpoint_every=1000,
        log_every=1000,
        data_workers=1,
        device="cpu",
        command=f"tunecli train {task} (test)",
    )
    defaults.update(kw)
    return TrainConfig.of(**defaults)  # type: ignore[arg-type]


def check_checkpoint(out: Path, config: TrainConfig, labels: set[str]) -> dict:
    loaded = load_model(out)
    meta = read_header(out).meta
    task = get_task(config.task)
    assert meta["task"] == config.task and loaded.task == config.task
    assert meta["arch"] == task.default_arch
    assert loaded.alpha_space == task.alpha_space(config)
    assert meta["training"]["steps"] == config.steps
    assert set(meta["training"]["validation"]) == labels
    assert all(np.isfinite(v) for v in meta["training"]["validation"].values())
    assert meta["training"]["validation_files"] == ["photo0.png"]
    assert resume_path(out).is_file()
    return meta


def test_train_deblur(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "deblur.safetensors"
    config = tiny_config("deblur", folders, out)
    result = train(config)
    assert result.steps == 3 and np.isfinite(result.last_loss)
    labels = {f"psnr_blur{s:g}_sigma{n:g}" for s, n in deblur.VALIDATION_LEVELS}
    assert labels == {"psnr_blur0.5_sigma7.65", "psnr_blur1_sigma2.55"}
    meta = check_checkpoint(out, config, labels)
    assert meta["hparams"]["affine"] is True  # a box space trains the affine form
    assert meta["alpha_space"]["domain"] == "box"
    assert result.validation == meta["training"]["validation"]


def test_train_upscale_builds_the_discriminator(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "upscale.safetensors"
    config = tiny_config("upscale", folders, out, patch=16, scale=2, features=str(folders["features"]))
    result = train(config)
    assert np.isfinite(result.last_loss)
    meta = check_checkpoint(out, config, {"psnr_fidelity", "psnr_perceptual"})
    assert meta["scale"] == 2 and meta["hparams"]["scale"] == 2
    training = meta["training"]
    assert training["objectives"] == ["fidelity", "perceptual"]
    assert len(training["features_sha256"]) == 64
    state = read_header(resume_path(out)).tensors
    assert any(k.startswith("disc.") for k in state) and any(k.startswith("doptim.") for k in state)
    module = load_model(out).module
    with torch.no_grad():
        low = torch.rand(1, 3, 16, 16)
        assert module(low, torch.tensor([1.0, 0.0])).shape == (1, 3, 32, 32)
        assert module(low, torch.tensor([0.0, 1.0])).shape == (1, 3, 32, 32)


def test_train_upscale_x4_warm_starts_from_the_x2_model_with_its_texture_loss(
    tmp_path: Path, folders: dict[str, Path]
) -> None:
    x2 = tmp_path / "x2.safetensors"
    train(tiny_config("upscale", folders, x2, steps=1, patch=16, scale=2, features=str(folders["features"])))
    x4 = tmp_path / "x4.safetensors"
    config = tiny_config(
        "upscale", folders, x4, steps=2, patch=8, scale=4, features=str(folders["features"]), hparams=None,
        init_from=str(x2), texture_weight=0.5, lr=0.0, d_lr=0.0,
    )  # fmt: skip
    lines: list[str] = []
    train(config, log=lines.append)
    assert any(line.startswith("warm-started from") for line in lines)
    meta = read_header(x4).meta
    assert meta["scale"] == 4 and meta["hparams"]["scale"] == 4 and meta["hparams"]["width"] == 4
    assert meta["training"]["texture_weight"] == 0.5 and meta["training"]["texture_patch"] == upscale.TEXTURE_PATCH
    source, target = load_model(x2).module.state_dict(), load_model(x4).module.state_dict()
    assert torch.equal(source["head.weight"], target["head.weight"])  # lr 0: the carried weights stay


def test_train_style_names_axes_after_the_paintings(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "style.safetensors"
    styles = [str(folders["style_a"]), str(folders["style_b"]), f"third={folders['style_c']}"]
    config = tiny_config("style", folders, out, features=str(folders["features"]), styles=styles)
    result = train(config)
    assert np.isfinite(result.last_loss)
    names = ("blue_waves", "wheat_field", "third")
    meta = check_checkpoint(out, config, {f"content_psnr_{n}" for n in names})
    loaded = load_model(out)
    assert loaded.alpha_space.names == names and loaded.alpha_space.p == 3
    assert meta["hparams"]["p"] == 3
    training = meta["training"]
    assert training["objectives"] == ["content", *(f"style:{n}" for n in names), "tv"]
    assert [s["name"] for s in training["styles"]] == list(names)
    assert [s["file"] for s in training["styles"]] == ["Blue Waves.png", "wheat-field.png", "c.png"]
    with torch.no_grad():
        out_image = loaded.module(torch.rand(1, 3, 16, 16), torch.tensor([0.0, 1.0, 0.0]))
    assert out_image.shape == (1, 3, 16, 16)
    assert float(out_image.min()) >= 0.0 and float(out_image.max()) <= 1.0


# ---- validation cases of the other tasks --------------------------------------------------------


def _config(task: str, **kw: object) -> TrainConfig:
    return TrainConfig.of(task, data=[], out="x.safetensors", **kw)  # type: ignore[arg-type]


def test_deblur_validation_cases_match_their_degradation() -> None:
    cases = get_task("deblur").validation_cases([smooth(48, 0)], _config("deblur"))
    assert [c.label for c in cases] == ["psnr_blur0.5_sigma7.65", "psnr_blur1_sigma2.55"]
    for case, (strength, sigma) in zip(cases, deblur.VALIDATION_LEVELS, strict=True):
        assert case.omega == pytest.approx((sigma / deblur.NOISE_MAX, strength))
        assert case.input.shape == case.target.shape == (1, 3, 48, 48)
        assert torch.equal(case.input, torch.round(case.input * 255) / 255)  # saved to 8 bits
    # stronger blur: further from the clean image despite less noise
    errors = [float((c.input - c.target).pow(2).mean()) for c in cases]
    assert errors[0] > 0 and errors[1] > 0


def test_upscale_validation_cases_are_the_two_corners() -> None:
    cases = get_task("upscale").validation_cases([smooth(50, 0)], _config("upscale", scale=2))
    assert [(c.label, c.omega) for c in cases] == [("psnr_fidelity", (1.0, 0.0)), ("psnr_perceptual", (0.0, 1.0))]
    for case in cases:
        assert case.target.shape == (1, 3, 50, 50) and case.input.shape == (1, 3, 25, 25)


def test_style_validation_cases_are_the_corners() -> None:
    styles = ["x/Starry Night.jpg", "y/b.png"]
    cases = get_task("style").validation_cases([smooth(48, 0)], _config("style", styles=styles))
    assert [(c.label, c.omega) for c in cases] == [
        ("content_psnr_starry_night", (1.0, 0.0)),
        ("content_psnr_b", (0.0, 1.0)),
    ]
    assert style_name("x/Starry Night.jpg") == "starry_night"
    assert all(torch.equal(c.input, c.target) for c in cases)


def test_a_style_can_be_named_name_equals_file() -> None:
    from tunecli.tasks.style import style_file

    assert (style_name("starry=x/Starry Night.jpg"), style_file("starry=x/Starry Night.jpg")) == (
        "starry",
        "x/Starry Night.jpg",
    )
    # not a name (upper case, leading digit, a path before '='): the whole value is the file
    for spec in ("Starry=a.jpg", "1a=b.png", "dir/a=b.png"):
        assert style_file(spec) == spec
    cases = get_task("style").validation_cases([smooth(48, 0)], _config("style", styles=["a=x.png", "b=y.png"]))
    assert [c.label for c in cases] == ["content_psnr_a", "content_psnr_b"]


def test_upscale_make_batch_downscales_by_the_scale() -> None:
    config = _config("upscale", scale=2, patch=16)
    recipe = TrainingRecipe(objectives=(), weights=lambda o: o, crop=32, scale=2)  # make_batch reads the scale only
    clean = torch.rand(2, 3, 32, 32)
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    batch = upscale.TASK.make_batch(clean, omega, torch.Generator().manual_seed(0), config, recipe)
    assert batch.inputs.shape == (2, 3, 16, 16) and torch.equal(batch.targets, clean)
    assert torch.equal(batch.omega, omega)


# ---- refused options ----------------------------------------------------------------------------


def test_task_option_a_task_does_not_take_is_refused(tmp_path: Path, folders: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="--features is not an option of `tunecli train denoise`"):
        TrainConfig.of(
            "denoise",
            data=[str(folders["data"])],
            out=str(tmp_path / "x.safetensors"),
            steps=1,
            features=str(folders["features"]),
        )
    with pytest.raises(UsageError, match="--style is not an option of `tunecli train upscale`"):
        TrainConfig(task="upscale", data=[], out=str(tmp_path / "y.safetensors"), task_options={"styles": ["a.png"]})
    assert not (tmp_path / "x.safetensors").exists()


def test_cli_train_style_refuses_a_single_style(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "style.safetensors"
    args = ["train", "style", "--data", str(folders["data"]), "--out", str(out), "--steps", "1"]
    args += ["--style", str(folders["style_a"]), "--features", str(folders["features"])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "two or more paintings" in lines[0]
    assert not out.exists()


def test_cli_train_upscale_needs_features(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "upscale.safetensors"
    args = ["train", "upscale", "--data", str(folders["data"]), "--out", str(out), "--steps", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "tunecli train upscale needs the frozen feature network: --features" in errors[0]
    assert "Traceback" not in result.output
    assert not out.exists() and not resume_path(out).exists()


def test_cli_train_upscale_without_features_fails_before_reading_the_data(
    tmp_path: Path, folders: dict[str, Path]
) -> None:
    args = ["train", "upscale", "--data", str(folders["data"]), "--out", str(tmp_path / "u.safetensors")]
    result = CliRunner().invoke(app, [*args, "--steps", "1"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: tunecli train upscale needs the frozen feature network: --features PATH "
        "(e.g. the partial VGG-19 vgg19_normalised_wct folder)"
    ]


def test_adversarial_run_at_zero_generator_lr(tmp_path: Path, folders: dict[str, Path]) -> None:
    out = tmp_path / "upscale.safetensors"
    config = tiny_config(
        "upscale", folders, out, steps=1, patch=16, scale=2, features=str(folders["features"]), lr=0.0, d_lr=1e-4
    )
    config.val_data = []
    train(config)
    assert load_model(out).task == "upscale"


def test_style_objectives_share_one_feature_pass_and_equal_the_standalone_losses(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunecli.losses.features import VGGFeatures, load_feature_extractor
    from tunecli.losses.perceptual import feature_loss, style_loss
    from tunecli.tasks.registry import TrainBatch
    from tunecli.tasks.style import CONTENT_LAYERS, STYLE_LAYERS, STYLE_SCALES, STYLE_WEIGHT, painting_grams

    styles = [str(folders["style_a"]), str(folders["style_b"])]
    config = _config("style", styles=styles, features=str(folders["features"]), patch=32)
    recipe = get_task("style").recipe(config, torch.device("cpu"))
    extractor = load_feature_extractor(str(folders["features"]))
    grams = painting_grams(extractor, styles)
    photo = torch.from_numpy(smooth(32, 5).transpose(2, 0, 1).copy())[None].repeat(2, 1, 1, 1)
    out = (photo + 0.1 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out.requires_grad_(True)
    batch = TrainBatch(photo, photo, torch.tensor([[1.0, 0.0], [0.3, 0.7]]))

    passes = []
    forward = VGGFeatures.forward
    monkeypatch.setattr(VGGFeatures, "forward", lambda self, *a, **k: passes.append(1) or forward(self, *a, **k))
    losses = [objective.loss(out, batch) for objective in recipe.objectives]
    # one pass per style scale over the output, one over the photo (content target)
    assert len(passes) == len(STYLE_SCALES) + 1
    monkeypatch.setattr(VGGFeatures, "forward", forward)

    content = feature_loss(extractor, out, photo, CONTENT_LAYERS, distance="l2")
    expected = [content, *(STYLE_WEIGHT * style_loss(extractor, out, g, STYLE_LAYERS) for g in grams)]
    for got, want in zip(losses[:3], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # the shared results follow the output: a new tensor gets its own losses
    other = out.detach().flip(-1).requires_grad_(True)
    torch.testing.assert_close(
        recipe.objectives[1].loss(other, batch), STYLE_WEIGHT * style_loss(extractor, other, grams[0], STYLE_LAYERS)
    )
