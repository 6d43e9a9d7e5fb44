"""``tunecli eval`` of an upscaler: the grid column (the checkerboard measure) on every method,
equal to :func:`~tunecli.evaluation.metrics.grid_measure` of each output, and high for a
method that adds a checkerboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from tunecli.api import load
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.cli import app
from tunecli.degradations.resize import crop_to_multiple, downscale_array, upscale_bicubic
from tunecli.evaluation.metrics import grid_measure, quantize_8bit
from tunecli.imageio import read_rgb
from tunecli.models import model_metadata
from tunecli.tasks import upscale
from tunecli.tensors import batch_to_image, image_to_batch


def tiny_upscaler(path: Path) -> Path:
    torch.manual_seed(0)
    net = build_arch("srnet", {"p": 2, "width": 4, "blocks": 1, "scale": 2, "upsampler": "nearest"})
    save_checkpoint(path, net.state_dict(), model_metadata(net, task="upscale", alpha_space=upscale.alpha_space()))
    return path


def photos(folder: Path) -> Path:
    """One photo large enough for the grid measure (80 px: 76 after the border) and one too small."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("large", 80), ("small", 40)):
        yy, xx = np.mgrid[0:size, 0:size] / 24
        planes = [np.sin(xx * rng.random() * 3 + yy * rng.random() * 3 + rng.random() * 6) for _ in range(3)]
        smooth = np.stack(planes, axis=2) * 0.35 + 0.5 + 0.05 * rng.standard_normal((size, size, 3))
        Image.fromarray(np.clip(np.round(smooth * 255), 0, 255).astype(np.uint8)).save(folder / f"{name}.png")
    return folder


def bicubic(low: np.ndarray) -> np.ndarray:
    return batch_to_image(upscale_bicubic(image_to_batch(low), 2))


def test_eval_has_a_grid_column_on_every_method(tmp_path: Path) -> None:
    model, data = tiny_upscaler(tmp_path / "tiny.safetensors"), photos(tmp_path / "data")
    result = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--alpha", "0,1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["rows"]
    assert [(r["method"], r["alpha"]) for r in rows] == [
        ("bicubic", "-"),
        ("lanczos", "-"),
        ("tiny", "0"),
        ("tiny", "1"),
    ]
    assert all("grid" in row for row in rows)
    assert any("grid:" in note and "on the 1 output(s) of at least 68px" in note for note in report["notes"])

    high = crop_to_multiple(read_rgb(data / "large.png"), 2)  # only the large photo is measured
    low = downscale_array(high, 2)
    restorer = load(model, device="cpu")
    by_hand = {
        ("bicubic", "-"): bicubic(low),
        ("tiny", "0"): restorer.run(low, alpha=0.0),
        ("tiny", "1"): restorer.run(low, alpha=1.0),
    }
    for row in rows:
        if (row["method"], row["alpha"]) in by_hand:
            out = quantize_8bit(by_hand[row["method"], row["alpha"]])
            assert row["grid"] == round(grid_measure(out, high, border=2), 3)


def test_a_method_that_adds_a_checkerboard_reads_far_above_bicubic(tmp_path: Path) -> None:
    images = [read_rgb(photos(tmp_path / "data") / "large.png")]
    cells = (np.indices((80, 80)) // 2).sum(axis=0) % 2  # 2-px squares: the 4-px period of a x4 pixel shuffle
    checker = (cells[..., None] - 0.5) * 0.06

    def checkered(low: np.ndarray) -> np.ndarray:
        return np.clip(bicubic(low) + checker[: low.shape[0] * 2, : low.shape[1] * 2], 0, 1)

    methods = [("bicubic", "-", bicubic), ("checkered", "-", checkered)]
    rows = upscale.compare_upscalers(methods, images, 2).rows
    plain, grid = rows[0]["grid"], rows[1]["grid"]
    assert 0.5 < plain < 1.5 and grid > 3 * plain
    assert rows[0]["psnr_y"] > rows[1]["psnr_y"]
