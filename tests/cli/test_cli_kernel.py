"""``tunecli deblur --kernel FILE``: plug-and-play deblurring with a known kernel through the
normal command (names, formats, ``--json``, sweeps, one-line errors), on a tiny random denoiser."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import Result

from tunecli.imageio import read_image

MOTION = np.zeros((5, 5), np.float32)
MOTION[2, :3] = [0.5, 0.3, 0.2]  # asymmetric: a flip would show


def kernel_file(tmp_path: Path) -> Path:
    path = tmp_path / "shake.npy"
    np.save(path, MOTION)
    return path


def test_kernel_run_writes_the_named_output_and_records_the_kernel(
    tmp_path: Path, make_model: Callable[..., Path], write_png: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    prior = make_model(task="denoise")
    photo = write_png(tmp_path / "in" / "photo.png", height=64, width=72)
    kernel = kernel_file(tmp_path)
    result = run_cli(
        "deblur", "--kernel", kernel, "--model", prior, "--alpha", "0.5", photo, "-o", tmp_path / "out", "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kernel"] == {
        "file": str(kernel),
        "sha256": hashlib.sha256(kernel.read_bytes()).hexdigest(),
        "size": [5, 5],
    }
    assert summary["alpha"] == [0.5, 0.5] and summary["alpha_label"] == "a0.50"
    out = tmp_path / "out" / "photo_deblur_a0.50.png"
    assert read_image(out).pixels.shape == (64, 72, 3)


def test_kernel_run_keeps_gray_alpha_and_16_bits(
    tmp_path: Path, make_model: Callable[..., Path], write_png: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    prior = make_model(task="denoise")
    rgba = write_png(tmp_path / "in" / "rgba.png", height=64, width=64, mode="RGBA")
    gray = write_png(tmp_path / "in" / "gray.png", height=64, width=64, mode="L")
    result = run_cli(
        "deblur",
        "--kernel",
        kernel_file(tmp_path),
        "--model",
        prior,
        rgba,
        gray,
        "-o",
        tmp_path / "out",
        "--bit-depth",
        "16",
    )
    assert result.exit_code == 0, result.output
    out_rgba = read_image(tmp_path / "out" / "rgba_deblur_a0.15.png")
    assert out_rgba.alpha is not None
    np.testing.assert_allclose(out_rgba.alpha, read_image(rgba).alpha, atol=1 / 255)  # alpha kept
    assert out_rgba.meta.dtype == "uint16"
    assert read_image(tmp_path / "out" / "gray_deblur_a0.15.png").pixels.shape == (64, 64, 1)


def test_kernel_sweep_writes_a_gallery(
    tmp_path: Path, make_model: Callable[..., Path], write_png: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    photo = write_png(tmp_path / "photo.png", height=64, width=64)
    result = run_cli(
        "deblur", "--kernel", kernel_file(tmp_path), "--model", make_model(task="denoise"), "--sweep", "0:1:3", photo
    )
    assert result.exit_code == 0, result.output
    gallery = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    assert len(gallery["inputs"][0]["outputs"]) == 3


def test_bad_kernel_uses_are_one_line_errors(
    tmp_path: Path, make_model: Callable[..., Path], write_png: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    photo = write_png(tmp_path / "photo.png", height=64, width=64)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a kernel")
    kernel = kernel_file(tmp_path)
    cases = [
        (("deblur", "--kernel", bad, "--model", make_model(task="denoise"), photo), "bad.npy"),
        (("denoise", "--kernel", kernel, photo), "--kernel is an option of deblurring, not of denoise"),
        (("deblur", "--kernel-index", "1", photo), "--kernel-index picks one kernel of a --kernel file"),
        (
            ("deblur", "--kernel", kernel, "--model", make_model(task="deblur", name="blind"), photo),
            "model 'blind' is a deblur model",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "models", "photo.png", "shake.npy"]


def test_kernel_image_is_normalised(
    tmp_path: Path, make_model: Callable[..., Path], write_png: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    png = tmp_path / "kernel.png"
    PILImage.fromarray(np.round(MOTION / MOTION.max() * 255).astype(np.uint8)).save(png)
    photo = write_png(tmp_path / "photo.png", height=64, width=64)
    result = run_cli("deblur", "--kernel", png, "--model", make_model(task="denoise"), photo, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kernel"]["size"] == [5, 5]


def test_kernel_run_without_model_takes_the_tasks_prior_model(
    tmp_path: Path,
    make_model: Callable[..., Path],
    write_png: Callable[..., Path],
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunecli.tasks import get_task

    prior = make_model(task="denoise", name="my-prior")
    monkeypatch.setattr(type(get_task("deblur")), "kernel_prior_model", str(prior))
    photo = write_png(tmp_path / "photo.png", height=40, width=40)
    result = run_cli("deblur", "--kernel", kernel_file(tmp_path), photo, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "my-prior"
