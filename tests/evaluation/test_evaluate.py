"""``tunecli eval``: an identity model scores exactly the noisy input's PSNR."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.cli import app
from tunecli.degradations.noise import seeded_awgn
from tunecli.evaluation.evaluate import evaluate_denoiser
from tunecli.models import model_metadata
from tunecli.tasks import denoise


def identity_checkpoint(path: Path) -> Path:
    net = build_arch("tiny", {"p": 2, "width": 4})
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    save_checkpoint(path, net.state_dict(), model_metadata(net, task="denoise", alpha_space=denoise.alpha_space()))
    return path


def gray_images(folder: Path) -> Path:
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((40, 48, 3), 100 + 20 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_identity_model_scores_the_noisy_psnr(tmp_path: Path) -> None:
    model = identity_checkpoint(tmp_path / "identity.safetensors")
    data = gray_images(tmp_path / "data")
    result = CliRunner().invoke(
        app, ["eval", str(model), "--data", str(data), "--sigma", "25", "--noise", "float,8bit", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["noise"] for r in rows] == ["float", "8bit"]
    for row in rows:
        assert row["psnr"] == pytest.approx(row["noisy_psnr"], abs=1e-3)
        assert row["alpha"] == pytest.approx(denoise.alpha_of_sigma(25), abs=1e-4)
        # AWGN at σ = 25 on flat mid-gray: PSNR ≈ 20·log10(255 / 25), quantization adds ~1/12 level²
        assert row["psnr"] == pytest.approx(20 * math.log10(255 / math.sqrt(25**2 + 1 / 12)), abs=0.1)
        assert row["images"] == 2
        assert row["residual_rms"] == pytest.approx(0.0, abs=0.01)  # identity removes nothing

    # the ensemble of an identity is the identity: the same scores, flagged in the JSON
    x8 = CliRunner().invoke(
        app, ["eval", str(model), "--data", str(data), "--sigma", "25", "--noise", "float,8bit", "--json", "--ensemble"]
    )
    assert x8.exit_code == 0, x8.output
    report = json.loads(x8.stdout)
    assert report["ensemble"] is True and json.loads(result.stdout)["ensemble"] is False
    assert [r["psnr"] for r in report["rows"]] == pytest.approx([r["psnr"] for r in rows], abs=1e-6)


def test_noise_is_seeded_and_quantized() -> None:
    clean = np.full((16, 16, 3), 0.5, dtype=np.float32)
    a = seeded_awgn(clean, 25, seed=0, index=3, quantized=False)
    assert np.array_equal(a, seeded_awgn(clean, 25, seed=0, index=3, quantized=False))
    assert not np.array_equal(a, seeded_awgn(clean, 25, seed=0, index=4, quantized=False))
    q = seeded_awgn(clean, 25, seed=0, index=3, quantized=True)
    assert np.array_equal(q, np.round(q * 255) / 255) and q.min() >= 0 and q.max() <= 1


def test_evaluate_rows_per_alpha() -> None:
    level = np.float32(128 / 255)  # a value 8-bit quantization keeps
    images = [np.full((16, 16, 3), level, dtype=np.float32)]
    rows = evaluate_denoiser(lambda x, s, a: np.full_like(x, level), images, [15, 50], lambda s: [0.0, 1.0], ["float"])
    assert [(r.sigma, r.alpha) for r in rows] == [(15, 0.0), (15, 1.0), (50, 0.0), (50, 1.0)]
    assert all(r.psnr > 100 for r in rows)  # exact up to float32 rounding


@pytest.mark.parametrize("warm_up", [True, False])
def test_first_run_of_each_shape_is_a_warm_up_outside_the_timing(
    monkeypatch: pytest.MonkeyPatch, warm_up: bool
) -> None:
    """A denoiser that takes 10 s on its first call per image shape and 1 s after: with the
    warm-up every timed call costs 1 s; without it the first of each shape is timed too."""
    clock = [0.0]
    monkeypatch.setattr("tunecli.evaluation.evaluate.time.perf_counter", lambda: clock[0])
    seen: set[tuple[int, ...]] = set()

    def slow_first(noisy: np.ndarray, _sigma: float, _alpha: float) -> np.ndarray:
        clock[0] += 1.0 if noisy.shape in seen else 10.0
        seen.add(noisy.shape)
        return noisy

    images = [
        np.zeros((100, 100, 3), np.float32),
        np.zeros((100, 50, 3), np.float32),
        np.zeros((100, 100, 3), np.float32),
    ]
    rows = evaluate_denoiser(slow_first, images, [15, 25], lambda s: [0.0], ["float"], warm_up=warm_up)
    megapixels = (2 * 100 * 100 + 100 * 50) / 1e6
    first_row_seconds = 3.0 if warm_up else 2 * 10.0 + 1.0
    assert rows[0].seconds_per_mp == pytest.approx(first_row_seconds / megapixels, rel=1e-3)
    assert rows[1].seconds_per_mp == pytest.approx(3.0 / megapixels, rel=1e-3)


def test_eval_rejects_bad_options(tmp_path: Path) -> None:
    model = identity_checkpoint(tmp_path / "identity.safetensors")
    data = gray_images(tmp_path / "data")
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(model), "--data", str(data), "--sigma", "x"])
    assert result.exit_code == 2 and "--sigma takes comma-separated numbers, not 'x'" in result.output
    result = runner.invoke(app, ["eval", str(model), "--data", str(data), "--alpha", "2"])
    assert result.exit_code == 2 and "alpha 2.0 is outside [0, 1]" in result.output
