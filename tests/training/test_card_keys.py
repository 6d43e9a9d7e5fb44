"""A 3-step training of every built-in task through the CLI records the same card as before the
task options moved into the task modules: the same metadata and ``training`` keys (listed here
as they were recorded by the trainer that kept every task's options in one config), and in
``config`` the generic settings plus the task's own declared options — no other task's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_features import write_fake_vgg
from PIL import Image
from typer.testing import CliRunner

from tunecli.checkpoint import read_header
from tunecli.cli import app
from tunecli.tasks import get_task

META_KEYS = ["alpha_space", "arch", "format_version", "hparams", "license", "scale", "task", "tiling", "training"]
TRAINING_KEYS = [
    "command", "commands", "config", "data_files", "data_manifest_sha256", "init_from_sha256", "objectives",
    "steps", "total_steps", "total_wall_seconds", "validation", "validation_files", "wall_seconds",
]  # fmt: skip
#: what each task's recipe adds to ``training``
RECIPE_KEYS = {
    "denoise": [],
    "deblur": [],
    "upscale": [
        "adversarial_weight", "downscaling", "feature_weight", "features_sha256", "perceptual_weight",
        "texture_patch", "texture_weight",
    ],
    "style": ["features_sha256", "styles", "weights"],
}  # fmt: skip
#: the config keys of the trainer before the move: the generic settings and every task's options
CONFIG_KEYS_BEFORE = [
    "adversarial_weight", "arch", "batch", "checkpoint_every", "command", "content_weight", "corner_share", "d_lr",
    "data", "data_workers", "device", "feature_weight", "features", "fixed_alpha", "grad_clip", "hparams",
    "init_from", "log_every", "loss", "lr", "min_lr", "omega_groups", "out", "patch", "perceptual_weight",
    "precision", "quantize_share", "resume", "scale", "seed", "steps", "style_weight", "styles", "task",
    "texture_weight", "threads", "tv_weight", "val_data", "val_every", "val_images", "val_split", "warmup",
    "weight_decay",
]  # fmt: skip
TASK_OPTION_NAMES = {
    "adversarial_weight", "content_weight", "feature_weight", "features", "perceptual_weight", "quantize_share",
    "scale", "style_weight", "styles", "texture_weight", "tv_weight",
}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cards")
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    for i in range(3):
        Image.fromarray((rng.random((96, 96, 3)) * 255).astype(np.uint8)).save(root / "data" / f"p{i}.png")
    for i in range(2):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(root / f"painting{i}.png")
    write_fake_vgg(root / "vgg_normalised_conv3_1.pth")
    return root


@pytest.mark.parametrize("task", ["denoise", "deblur", "upscale", "style"])
def test_a_card_keeps_its_keys(task: str, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{task}.safetensors"
    features = str(folder / "vgg_normalised_conv3_1.pth")
    own = {
        "denoise": ["--hparams", '{"widths": [4, 8], "blocks": [1, 1]}', "--patch", "40"],
        "deblur": ["--hparams", '{"widths": [4, 8], "blocks": [1, 1]}', "--patch", "40"],
        "upscale": ["--hparams", '{"width": 4, "blocks": 1}', "--scale", "2", "--patch", "16", "--features", features],
        "style": [
            *("--hparams", '{"widths": [4, 4, 8], "blocks": 1}', "--patch", "40", "--features", features),
            *("--style", str(folder / "painting0.png"), "--style", str(folder / "painting1.png")),
        ],
    }[task]
    args = ["train", task, "--data", str(folder / "data"), "--out", str(out), "--steps", "3", "--batch", "2"]
    args += ["--warmup", "1", "--checkpoint-every", "2", "--workers", "1", "--device", "cpu", *own]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = read_header(out).meta
    assert sorted(meta) == META_KEYS
    assert sorted(meta["training"]) == sorted(TRAINING_KEYS + RECIPE_KEYS[task])
    declared = {option.name for option in get_task(task).train_options}
    expected = (set(CONFIG_KEYS_BEFORE) - TASK_OPTION_NAMES) | declared
    assert set(meta["training"]["config"]) == expected
    assert meta["training"]["steps"] == 3 and meta["training"]["config"]["steps"] == 3
