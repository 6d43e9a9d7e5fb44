"""A task defined outside the package (in this file only) with its own training and evaluation
options: registered, then trained, evaluated and run through the CLI without touching a file
of tunecli — the promise of :mod:`tunecli.tasks.registry`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.checkpoint import read_header
from tunecli.cli import app
from tunecli.tasks import (
    EvalColumn,
    EvalOptions,
    EvalReport,
    ModelRunner,
    Task,
    TaskOption,
    TrainBatch,
    TrainingRecipe,
    TrainSettings,
    ValidationCase,
    list_tasks,
    register_task,
    unregister_task,
)
from tunecli.tasks.registry import degradation_recipe, validation_crop


class BrightenTask(Task):
    """Brighten: alpha 1 targets ``gain`` × the input (the option of its own)."""

    name = "brighten"
    summary = "Brighten; alpha sets the gain (a task from outside the package)."
    example_alpha = "0.5"
    default_model = "brighten-none"
    default_arch = "unet"
    train_options = (TaskOption("gain", float, 1.5, "How much brighter the targets are at alpha 1.", minimum=1.0),)
    eval_options = (TaskOption("offset", float, 0.0, "Added to the clean images before they are brightened."),)

    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        axes = (AlphaAxis("dim", "as it is"), AlphaAxis("bright", "brighter by the trained gain"))
        return AlphaSpace(2, "simplex", axes, (0.5, 0.5), low="as it is", high="brighter")

    def recipe(self, config: TrainSettings, device: torch.device) -> TrainingRecipe:
        return degradation_recipe(config)

    def make_batch(
        self,
        clean: torch.Tensor,
        omega: torch.Tensor,
        generator: torch.Generator,
        config: TrainSettings,
        recipe: TrainingRecipe,
    ) -> TrainBatch:
        gain = 1 + (config.task_options["gain"] - 1) * omega[:, 1]
        return TrainBatch(clean, (clean * gain[:, None, None, None]).clamp(0, 1), omega)

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        crops = [validation_crop(image) for image in images]
        return [
            ValidationCase("psnr_bright", c, (c * config.task_options["gain"]).clamp(0, 1), (0.0, 1.0)) for c in crops
        ]

    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        own = self.resolve_options("eval", options.task_options)
        rows: list[dict[str, Any]] = []
        for alpha in (0.0, 1.0):
            outputs = [restorer.run(np.clip(image + own["offset"], 0, 1), alpha=alpha) for image in images]
            rows.append({"alpha": alpha, "mean": round(float(np.mean(outputs)), 6)})
        return EvalReport([EvalColumn("alpha", "alpha", "g"), EvalColumn("mean", "mean", ".4f")], rows)


@pytest.fixture()
def brighten() -> Iterator[BrightenTask]:
    task = register_task(BrightenTask())
    yield task
    unregister_task(task.name)


def photos(folder: Path, count: int = 3, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = (rng.random((size, size, 3)) * 120 + 40).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    return folder


TINY = '{"widths": [4, 8], "blocks": [1, 1]}'


def test_an_outside_task_trains_evaluates_and_runs_through_the_cli(brighten: BrightenTask, tmp_path: Path) -> None:
    runner = CliRunner()
    data = photos(tmp_path / "data")
    model = tmp_path / "brighten.safetensors"
    assert [t.name for t in list_tasks()][-1] == "brighten"  # after the built-in ones

    help_text = runner.invoke(app, ["train", "brighten", "--help"], env={"COLUMNS": "200"}).output
    assert "--gain" in help_text and "How much brighter the targets are" in help_text
    assert "upscale options" not in help_text and "brighten options" in help_text  # its own panel only

    common = ["train", "brighten", "--data", str(data), "--out", str(model), "--steps", "2", "--batch", "2"]
    common += ["--patch", "16", "--warmup", "1", "--hparams", TINY, "--workers", "1", "--device", "cpu"]
    refused = runner.invoke(app, [*common, "--gain", "0.5"])
    assert refused.exit_code == 2 and "--gain 0.5: use a value of at least 1" in refused.output
    assert not model.exists()
    trained = runner.invoke(app, [*common, "--gain", "2"])
    assert trained.exit_code == 0, trained.output
    config = read_header(model).meta["training"]["config"]
    assert config["gain"] == 2.0 and config["task"] == "brighten" and "features" not in config

    assert "--offset" in runner.invoke(app, ["eval", str(model), "--help"], env={"COLUMNS": "200"}).output
    evaluated = runner.invoke(app, ["eval", str(model), "--data", str(data), "--offset", "0.1", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["task"] == "brighten" and [r["alpha"] for r in report["rows"]] == [0.0, 1.0]
    darker = json.loads(runner.invoke(app, ["eval", str(model), "--data", str(data), "--json"]).stdout)
    assert report["rows"][0]["mean"] > darker["rows"][0]["mean"]  # the offset reached the task

    out = tmp_path / "out"
    ran = runner.invoke(
        app, ["brighten", "--model", str(model), "--alpha", "0.7", str(data / "p0.png"), "-o", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    assert len(list(out.iterdir())) == 1


def test_an_option_of_another_task_is_refused_in_one_line(brighten: BrightenTask, tmp_path: Path) -> None:
    data = photos(tmp_path / "data", count=1)
    result = CliRunner().invoke(
        app, ["train", "denoise", "--data", str(data), "--out", str(tmp_path / "m.safetensors"), "--gain", "2"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --gain is not an option of `tunecli train denoise` (its own options: --quantize-share, --unroll, --unroll-noise)"
    ]
