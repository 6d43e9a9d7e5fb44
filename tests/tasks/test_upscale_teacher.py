"""Distillation in the upscale task (``--teacher DIR``): the teacher's images reach each batch cut
like their high-resolution crops, on the teacher's grid; the perceptual objective measures the
distance to them while the fidelity objective keeps the HR crops; a training image without its
teacher output is refused in one line; the card records the teacher.

The teacher here is synthetic: each "output" is the HR image (cropped to a multiple of 4, as
bench/upscale_teacher.py crops it) inverted with its channels reversed, a known per-pixel
function of HR, so a batch's teacher crops can be checked against its HR crops exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_features import write_fake_vgg
from PIL import Image
from typer.testing import CliRunner

from tunecli.checkpoint import read_header
from tunecli.cli import app
from tunecli.degradations.resize import downscale
from tunecli.errors import UsageError
from tunecli.tasks import TrainBatch, get_task, upscale
from tunecli.training import loop
from tunecli.training.data import manifest_sha256
from tunecli.training.loop import TrainConfig, train

TEACHER_JSON = {"teacher": {"name": "synthetic inversion", "package_version": "0"}, "command": "made by a test"}
TINY_NEAREST = '{"width": 4, "blocks": 1, "upsampler": "nearest"}'


def teacher_of(high: np.ndarray) -> np.ndarray:
    """The synthetic teacher's output for the uint8 HR image ``high``."""
    h, w = high.shape[0] // 4 * 4, high.shape[1] // 4 * 4
    return 255 - high[:h, :w, ::-1]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("teacher")
    data, teacher = root / "data", root / "teacher"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(((42, 50), (45, 39), (40, 44))):  # not all multiples of 4
        high = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(high).save(data / f"photo{i}.png")
        for scale in (2, 4):
            (teacher / f"x{scale}" / "data").mkdir(parents=True, exist_ok=True)
            Image.fromarray(teacher_of(high)).save(teacher / f"x{scale}" / "data" / f"photo{i}.png")
    (teacher / "teacher.json").write_text(json.dumps(TEACHER_JSON))
    return {"root": root, "data": data, "teacher": teacher, "features": write_fake_vgg(root / "vgg.pth")}


def config_for(folders: dict[str, Path], out: Path, **kw: object) -> TrainConfig:
    settings: dict[str, object] = dict(
        data=[str(folders["data"])], out=str(out), steps=6, batch=4, patch=8, warmup=1, scale=2,
        hparams={"width": 4, "blocks": 1}, features=str(folders["features"]), teacher=str(folders["teacher"]),
        checkpoint_every=1000, log_every=1000, data_workers=1, device="cpu",
    )  # fmt: skip
    settings.update(kw)
    return TrainConfig.of("upscale", **settings)  # type: ignore[arg-type]


def test_each_batch_pairs_every_hr_crop_with_the_same_teacher_crop(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[TrainBatch] = []

    def record(net: object, optimizer: object, batch: TrainBatch, *args: object, **kwargs: object) -> torch.Tensor:
        batches.append(batch)
        return torch.zeros(())

    monkeypatch.setattr(loop, "optimizer_step", record)
    train(config_for(folders, tmp_path / "x.safetensors"))
    assert len(batches) == 6
    for batch in batches:
        assert batch.references is not None and batch.references.shape == batch.targets.shape == (4, 3, 16, 16)
        high, taught = torch.round(batch.targets * 255), torch.round(batch.references * 255)
        # flips and rotations included: the teacher crop is the teacher's map of its own HR crop
        assert torch.equal(taught, 255 - high.flip(1))
        assert torch.equal(batch.inputs, downscale(batch.targets, 2))  # the LR is made as without a teacher


@pytest.mark.parametrize("scale", upscale.TASK.scales)
def test_a_crop_on_the_teacher_grid_downscales_to_the_teachers_lr(scale: int) -> None:
    """Why crop offsets are multiples of TEACHER_CROP_MULTIPLE: there the crop's LR is the LR the
    teacher saw (away from the crop border, where the bicubic taps are cut); one pixel off, not."""
    assert upscale.TEACHER_CROP_MULTIPLE % scale == 0
    high = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(scale))
    whole = downscale(high, scale)
    margin = 2  # LR pixels the taps of a ×scale antialiased bicubic reach
    side = 32 // scale
    for top, left, aligned in ((8, 12, True), (9, 12, False)):
        part = downscale(high[..., top : top + 32, left : left + 32], scale)[..., margin:-margin, margin:-margin]
        row, col = top // scale + margin, left // scale + margin
        same = whole[..., row : row + side - 2 * margin, col : col + side - 2 * margin]
        assert torch.allclose(part, same, atol=1e-6) is aligned


def test_the_perceptual_objective_distils_the_teacher_and_fidelity_keeps_the_hr(folders: dict[str, Path]) -> None:
    task, cpu = get_task("upscale"), torch.device("cpu")
    taught = task.recipe(config_for(folders, Path("t.safetensors"), adversarial_weight=0.0, texture_weight=0.5), cpu)
    plain = task.recipe(
        config_for(folders, Path("p.safetensors"), adversarial_weight=0.0, texture_weight=0.5, teacher=None), cpu
    )
    rand = torch.Generator().manual_seed(1)
    high, out = torch.rand(2, 3, 32, 32, generator=rand), torch.rand(2, 3, 32, 32, generator=rand)
    one, other = torch.rand(2, 3, 32, 32, generator=rand), torch.rand(2, 3, 32, 32, generator=rand)
    omega = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    low = downscale(high, 2)

    def losses(recipe: object, references: torch.Tensor | None) -> list[torch.Tensor]:
        batch = TrainBatch(low, high, omega, references)
        return [objective.loss(out, batch) for objective in recipe.objectives]  # type: ignore[attr-defined]

    fidelity_one, perceptual_one = losses(taught, one)
    fidelity_other, perceptual_other = losses(taught, other)
    fidelity_plain, perceptual_plain = losses(plain, one)
    assert torch.equal(fidelity_one, fidelity_other) and torch.equal(fidelity_one, fidelity_plain)
    assert (perceptual_one - perceptual_other).abs().min() > 1e-4  # other teacher images, another loss
    # a teacher that returned the HR crops would be the objective without a teacher, which ignores references
    torch.testing.assert_close(losses(taught, high)[1], perceptual_plain)
    torch.testing.assert_close(losses(plain, other)[1], perceptual_plain)
    with pytest.raises(ValueError, match="teacher crops"):
        losses(taught, None)


def test_without_a_teacher_the_task_pairs_nothing(folders: dict[str, Path]) -> None:
    config = config_for(folders, Path("x.safetensors"), teacher=None)
    assert get_task("upscale").pairing(config, sorted(folders["data"].iterdir())) is None


def run_cli(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(result: object) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]  # type: ignore[attr-defined]


def cli_args(folders: dict[str, Path], teacher: Path, out: Path) -> list[object]:
    return [
        *("train", "upscale", "--data", folders["data"], "--out", out, "--steps", 3, "--batch", 2, "--patch", 8),
        *("--warmup", 1, "--workers", 1, "--device", "cpu", "--features", folders["features"]),
        *("--teacher", teacher, "--hparams", TINY_NEAREST),
    ]


def test_a_training_image_without_its_teacher_output_is_refused_in_one_line(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    teacher = shutil.copytree(folders["teacher"], tmp_path / "teacher")
    for scale in (2, 4):
        (teacher / f"x{scale}" / "data" / "photo1.png").unlink()
    (teacher / "x4" / "data" / "photo2.png").unlink()
    out = tmp_path / "u.safetensors"
    result = run_cli(*cli_args(folders, teacher, out))
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    expected = (
        f"error: --teacher {teacher}: no x4 teacher output for {folders['data'] / 'photo1.png'} (and 1 more of "
        f"the 3): expected {teacher / 'x4' / 'data' / 'photo1.png'}; run bench/upscale_teacher.py on it or leave "
        "it out of --data"
    )
    assert error_lines(result) == [expected] and "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not out.exists()
    (teacher / "teacher.json").unlink()
    result = run_cli(*cli_args(folders, teacher, out))
    assert error_lines(result) == [
        f"error: --teacher {teacher}: no teacher.json; make the folder with bench/upscale_teacher.py"
    ]
    with pytest.raises(UsageError, match="no x3 outputs"):
        loop.checked_config(config_for(folders, tmp_path / "x3.safetensors", scale=3))


def test_cli_training_with_a_teacher_records_it_in_the_card(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "distilled.safetensors"
    result = run_cli(*cli_args(folders, folders["teacher"], out))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    meta = read_header(out).meta
    assert meta["scale"] == 4 and meta["hparams"]["upsampler"] == "nearest"
    training = meta["training"]
    assert training["steps"] == 3 and training["config"]["teacher"] == str(folders["teacher"])
    assert training["teacher"] == TEACHER_JSON
    used = [folders["teacher"] / "x4" / "data" / f"photo{i}.png" for i in range(3)]
    assert training["references_manifest_sha256"] == manifest_sha256(used)
    without = tmp_path / "plain.safetensors"
    plain_args = [
        a for a in cli_args(folders, folders["teacher"], without) if a not in ("--teacher", folders["teacher"])
    ]
    assert run_cli(*plain_args).exit_code == 0  # type: ignore[attr-defined]
    plain = read_header(without).meta["training"]
    assert set(training) - set(plain) == {"teacher", "references_manifest_sha256"} and set(plain) <= set(training)
    assert plain["config"]["teacher"] is None


def test_train_upscale_help_lists_teacher() -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["train", "upscale", "--help"], env={"COLUMNS": "200"}).output
    assert "--teacher" in help_text and "bench/upscale_teacher.py" in help_text
    assert "--teacher" not in runner.invoke(app, ["train", "denoise", "--help"], env={"COLUMNS": "200"}).output


@pytest.mark.parametrize(("teacher", "weight", "says"), [("t", 0.05, True), ("t", 0.0, False), (None, 0.05, None)])
def test_the_perceptual_axis_says_when_an_adversarial_term_was_trained(
    teacher: str | None, weight: float, says: bool | None
) -> None:
    """A distilled checkpoint's card names its adversarial term when it had one; without a
    teacher the axis keeps the GAN upscalers' wording, which names it anyway."""
    from types import SimpleNamespace

    config = SimpleNamespace(task_options={"teacher": teacher, "adversarial_weight": weight})
    meaning = get_task("upscale").alpha_space(config).axes[1].meaning  # type: ignore[arg-type]
    if says is None:
        assert meaning == upscale.alpha_space().axes[1].meaning
    else:
        assert meaning.startswith("the teacher's look") and ("adversarial term" in meaning) is says
