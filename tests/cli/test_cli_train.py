"""``tunecli train`` from the command line: options reach the run, the log is readable, bad
options get one line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import Result

from tunecli.checkpoint import read_header

RunCli = Callable[..., Result]
TINY = '{"widths": [8, 16], "blocks": [1, 1]}'


def tiny_run(tmp_path: Path, write_png: Callable[..., Path], images: int, steps: int) -> tuple[Path, Path, list]:
    """A folder of ``images`` small PNGs (``0.png`` …), the checkpoint path and the start of a
    ``tunecli train denoise`` argument list for a few-step run on them."""
    data = tmp_path / "data"
    data.mkdir()
    for seed in range(images):
        write_png(data / f"{seed}.png", height=40, width=40, seed=seed)
    out = tmp_path / "tiny.safetensors"
    args = ["train", "denoise", "--data", data, "--out", out, "--steps", str(steps), "--batch", "2", "--patch", "16"]
    return data, out, [*args, "--hparams", TINY]


def test_train_writes_a_checkpoint_and_logs_time_stamped_lines(
    tmp_path: Path, run_cli: RunCli, write_png: Callable[..., Path]
) -> None:
    data, out, args = tiny_run(tmp_path, write_png, images=3, steps=4)
    result = run_cli(
        *args,
        "--workers",
        "3",
        "--val-data",
        data,
        "--corner-share",
        "0.5",
        "--loss",
        "l2",
        "--quantize-share",
        "0.25",
        "--warmup",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d 3 training images, manifest sha256 [0-9a-f]{16}…, training on cpu", lines[0])
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d step 4/4 loss \d\.\d{5} lr .* steps/s", line) for line in lines)
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d step 4 validation psnr_sigma15=.*", line) for line in lines)
    assert lines[-1].startswith(f"trained {out}: 4 steps")
    config = read_header(out).meta["training"]["config"]
    assert config["data_workers"] == 3 and config["batch"] == 2 and config["patch"] == 16
    assert config["corner_share"] == 0.5 and config["loss"] == "l2" and config["quantize_share"] == 0.25
    assert config["warmup"] == 2


def test_train_rejects_bad_options_in_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "m.safetensors"
    result = run_cli("train", "denoise", "--data", tmp_path, "--out", out, "--hparams", "[1")
    assert result.exit_code == 2 and result.stderr.strip() == "error: --hparams is not valid JSON: '[1'"
    result = run_cli("train", "denoise", "--data", tmp_path / "nope", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: training data folder not found"
    result = run_cli("train", "denoise", "--data", tmp_path, "--out", out, "--corner-share", "1.5")
    assert result.exit_code == 2 and "--corner-share" in result.stderr
    result = run_cli("train", "denoise", "--data", tmp_path, "--out", out, "--loss", "huber")
    assert (
        result.exit_code == 2
        and result.stderr.strip() == "error: unknown loss 'huber': use one of l1, l2, charbonnier, psnr"
    )
    result = run_cli("train", "denoise", "--data", tmp_path, "--out", out, "--device", "tpu")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown device 'tpu': use one of auto, cpu, cuda, cuda:N, mps"
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_train_on_missing_cuda_is_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "m.safetensors"
    result = run_cli("train", "denoise", "--data", tmp_path, "--out", out, "--device", "cuda")
    assert result.exit_code != 0 and not out.exists()
    assert result.stderr.strip() == "error: device 'cuda' requested but CUDA is not available; use --device cpu"


def test_live_bar_text_shows_loss_lr_and_validation() -> None:
    from tunecli.cli.console import train_status_text
    from tunecli.training.loop import TrainStatus

    status = TrainStatus(step=5, total=10, loss=0.00097312, lr=3e-4, validation={})
    assert train_status_text(status) == "loss 0.0009731 · lr 3.0e-04"
    status = TrainStatus(5, 10, 0.0123, 1e-6, {"psnr_sigma15": 34.891, "psnr_sigma25": 32.4})
    assert train_status_text(status) == "loss 0.0123 · lr 1.0e-06 · val 34.89/32.40 dB"


def test_val_split_holds_training_images_aside(tmp_path: Path, run_cli: RunCli, write_png: Callable[..., Path]) -> None:
    _, out, args = tiny_run(tmp_path, write_png, images=4, steps=1)
    result = run_cli(*args, "--val-split", "2")
    assert result.exit_code == 0, result.stderr
    assert "2 more held aside for validation: 1.png, 3.png" in result.stderr
    training = read_header(out).meta["training"]
    assert training["config"]["val_split"] == 2 and training["data_files"] == 2
    assert training["validation_files"] == ["1.png", "3.png"]
