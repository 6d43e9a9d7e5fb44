"""The degradations ω selects (denoise σ, deblur noise and blur), the validation cases and the
``validate`` pass at their own ω, and ``tunecli eval`` at alpha 0 and 1.

Each test runs sample by sample: a batch mixing ω rows must degrade every row at *its* ω, so
a column mix-up (σ from ω₀ instead of ω₁, validation at the swapped ω) fails here.
"""

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
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.imageio import read_rgb
from tunecli.models import load_model, model_metadata
from tunecli.tasks import deblur, denoise, get_task
from tunecli.training.loop import TrainConfig, validate

TINY_UNET = {"widths": [4, 8], "blocks": [1, 1]}


def noise_std(noisy: torch.Tensor, clean: torch.Tensor) -> list[float]:
    """Per-sample standard deviation of ``noisy − clean`` on the 0–255 scale."""
    return [255 * float(d.std()) for d in (noisy - clean)]


def smooth_image(size: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth float32 ``(size, size, 3)`` colour image in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(2 * np.pi * (rng.random() * xx + rng.random() * yy) + rng.random() * 6) for _ in range(3)]
    return (np.stack(planes, axis=2) * 0.4 + 0.5).astype(np.float32)


def checkerboard(size: int = 64, square: int = 4) -> torch.Tensor:
    """``(3, size, size)`` black/white squares of ``square`` px: energy at high frequencies."""
    yy, xx = np.mgrid[0:size, 0:size]
    board = ((yy // square + xx // square) % 2).astype(np.float32)
    return torch.from_numpy(board)[None].expand(3, size, size).contiguous()


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mean squared horizontal + vertical finite differences of ``(B, C, H, W)``."""
    dy = (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))
    dx = (images[..., :, 1:] - images[..., :, :-1]).pow(2).mean(dim=(1, 2, 3))
    return dy + dx


# ---- denoise: σ(ω) = 5 + 45·ω₁ --------------------------------------------------------------


@pytest.mark.parametrize(("omega", "sigma"), [((1.0, 0.0), 5.0), ((0.0, 1.0), 50.0), ((0.5, 0.5), 27.5)])
def test_denoise_degrade_sigma_at_corners_and_centre(omega: tuple[float, float], sigma: float) -> None:
    clean = torch.full((2, 3, 64, 64), 0.5)
    generator = torch.Generator().manual_seed(1)
    noisy = denoise.degrade(clean, torch.tensor([omega] * 2), generator, quantize_share=0.0)
    for std in noise_std(noisy, clean):
        assert std == pytest.approx(sigma, rel=0.05)
    # the noise is zero-mean Gaussian (nothing clipped at quantize_share 0)
    assert float((noisy - clean).mean()) * 255 == pytest.approx(0.0, abs=0.05 * sigma)


def test_denoise_degrade_is_per_sample() -> None:
    """Rows (1,0), (0,1), (0.5,0.5) of one batch get σ 5, 50 and 27.5, each its own."""
    clean = torch.full((3, 3, 64, 64), 0.5)
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    noisy = denoise.degrade(clean, omega, torch.Generator().manual_seed(2), quantize_share=0.0)
    stds = noise_std(noisy, clean)
    for std, sigma in zip(stds, (5.0, 50.0, 27.5), strict=True):
        assert std == pytest.approx(sigma, rel=0.05)
    assert denoise.sigma_of_omega(omega).tolist() == pytest.approx([5.0, 50.0, 27.5])


def test_denoise_degrade_quantizes_its_share_and_is_seeded() -> None:
    clean = torch.full((4, 3, 32, 32), 0.5)
    omega = torch.tensor([[0.5, 0.5]] * 4)
    all_8bit = denoise.degrade(clean, omega, torch.Generator().manual_seed(3), quantize_share=1.0)
    assert torch.equal(all_8bit, torch.round(all_8bit * 255) / 255)
    assert float(all_8bit.min()) >= 0.0 and float(all_8bit.max()) <= 1.0
    again = denoise.degrade(clean, omega, torch.Generator().manual_seed(3), quantize_share=1.0)
    assert torch.equal(all_8bit, again)


def test_alpha_of_sigma_inverts_sigma_of_alpha() -> None:
    for sigma in (5.0, 15.0, 25.0, 50.0):
        assert denoise.sigma_of_alpha(denoise.alpha_of_sigma(sigma)) == pytest.approx(sigma)
    assert denoise.alpha_of_sigma(0.0) == 0.0 and denoise.alpha_of_sigma(80.0) == 1.0


# ---- deblur: ω = (noise, blur), noise σ = 30·ω₀, blur strength ω₁ ----------------------------


@pytest.mark.parametrize(("omega", "sigma"), [((1.0, 0.0), 30.0), ((0.5, 0.0), 15.0), ((1.0, 1.0), 30.0)])
def test_deblur_degrade_noise_follows_first_axis(omega: tuple[float, float], sigma: float) -> None:
    # a constant image is unchanged by any blur (kernels sum to 1, reflect boundary)
    clean = torch.full((2, 3, 64, 64), 0.5)
    noisy = deblur.degrade(clean, torch.tensor([omega] * 2), torch.Generator().manual_seed(4), quantize_share=0.0)
    for std in noise_std(noisy, clean):
        assert std == pytest.approx(sigma, rel=0.05)


def test_deblur_degrade_per_sample_noise() -> None:
    clean = torch.full((3, 3, 64, 64), 0.5)
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    noisy = deblur.degrade(clean, omega, torch.Generator().manual_seed(5), quantize_share=0.0)
    stds = noise_std(noisy, clean)
    assert stds[0] == pytest.approx(30.0, rel=0.05)
    assert stds[1] < 1e-3  # blur 1 but no noise: a flat image stays flat
    assert stds[2] == pytest.approx(15.0, rel=0.05)


def test_deblur_degrade_at_origin_is_nearly_identity() -> None:
    board = checkerboard()[None].repeat(2, 1, 1, 1)
    generator = torch.Generator().manual_seed(6)
    for _ in range(10):  # every kernel kind at strength 0 is (nearly) a delta
        out = deblur.degrade(board, torch.zeros(2, 2), generator, quantize_share=0.0)
        assert float((out - board).abs().mean()) < 0.01
        assert float((out - board).abs().max()) < 0.05
        assert (gradient_energy(out) / gradient_energy(board)).min() > 0.9


def test_deblur_degrade_blur_follows_second_axis_per_sample() -> None:
    """No noise (ω₀ = 0): a checkerboard's high-frequency energy drops with ω₁ row by row."""
    board = checkerboard()[None].repeat(3, 1, 1, 1)
    omega = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 0.2]])
    for seed in range(5):
        out = deblur.degrade(board, omega, torch.Generator().manual_seed(seed), quantize_share=0.0)
        kept = (gradient_energy(out) / gradient_energy(board)).tolist()
        assert kept[0] > 0.9, kept  # strength 0: nearly untouched
        assert kept[1] < 0.1, kept  # strength 1: the squares are smeared away
        assert kept[1] < kept[2] < 0.6, kept  # strength 0.2: in between
        assert float((out - board).mean(dim=(1, 2, 3)).abs().max()) < 0.01  # blur keeps the mean


# ---- validation cases and the validation pass -------------------------------------------------


def _config(task: str = "denoise", **kw: object) -> TrainConfig:
    return TrainConfig.of(task, data=[], out="x.safetensors", **kw)  # type: ignore[arg-type]


def test_denoise_validation_cases_are_at_their_matching_alpha() -> None:
    task = get_task("denoise")
    images = [smooth_image(48, 0), smooth_image(40, 1)]
    cases = task.validation_cases(images, _config())
    assert [c.label for c in cases] == ["psnr_sigma15", "psnr_sigma25", "psnr_sigma50"] * 2
    for case in cases:
        sigma = float(case.label.removeprefix("psnr_sigma"))
        a = denoise.alpha_of_sigma(sigma)
        assert case.omega == pytest.approx((1 - a, a))
        assert case.input.shape == case.target.shape and case.input.dtype == torch.float32
        # seeded 8-bit noise of that σ (flat-ish image: the residual std is about σ)
        assert torch.equal(case.input, torch.round(case.input * 255) / 255)
        assert 255 * float((case.input - case.target).std()) == pytest.approx(sigma, rel=0.15)
    assert cases[2].omega == pytest.approx((0.0, 1.0))  # σ 50 is the strong corner
    # seeded: the same inputs every time
    again = task.validation_cases(images, _config())
    assert all(torch.equal(a.input, b.input) for a, b in zip(cases, again, strict=True))


def test_validate_runs_each_case_at_its_own_omega() -> None:
    """validate()'s score per label equals PSNR computed by hand at case.omega, and not the
    score at the swapped ω."""
    torch.manual_seed(0)
    net = build_arch("unet", {"p": 2, **TINY_UNET})
    task = get_task("denoise")
    cases = task.validation_cases([smooth_image(48, 0)], _config())
    scores = validate(net, task, cases, torch.device("cpu"))
    assert set(scores) == {"psnr_sigma15", "psnr_sigma25", "psnr_sigma50"}
    assert net.training  # validate restores the training mode
    net.eval()
    with torch.no_grad():
        for case in cases:

            def score_at(omega: tuple[float, ...], case=case) -> float:
                out = net(case.input, torch.tensor(omega, dtype=torch.float32))
                return psnr(quantize_8bit(out[0].permute(1, 2, 0).numpy()), case.target[0].permute(1, 2, 0).numpy())

            by_hand = score_at(case.omega)
            swapped = score_at(tuple(reversed(case.omega)))
            assert scores[case.label] == pytest.approx(by_hand, abs=1.5e-3), case.label
            assert abs(by_hand - swapped) > 0.05, case.label  # the check can tell the two apart
            assert scores[case.label] != pytest.approx(swapped, abs=0.02), case.label


def test_validate_averages_cases_of_one_label() -> None:
    torch.manual_seed(1)
    net = build_arch("unet", {"p": 2, **TINY_UNET})
    task = get_task("denoise")
    images = [smooth_image(48, 0), smooth_image(48, 1)]
    cases = task.validation_cases(images, _config())
    both = validate(net, task, cases, torch.device("cpu"))
    first = validate(net, task, cases[:3], torch.device("cpu"))
    second = validate(net, task, cases[3:], torch.device("cpu"))
    for label in both:
        assert both[label] == pytest.approx((first[label] + second[label]) / 2, abs=2e-3)


# ---- tunecli eval at alpha 0 and 1 -------------------------------------------------------------


def _random_denoiser(path: Path) -> Path:
    torch.manual_seed(0)
    net = build_arch("unet", {"p": 2, **TINY_UNET})
    save_checkpoint(path, net.state_dict(), model_metadata(net, task="denoise", alpha_space=denoise.alpha_space()))
    return path


def _write_images(folder: Path, count: int = 2, size: int = 48) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        pixels = np.clip(np.round(smooth_image(size, i) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return folder


def test_eval_scores_alpha_zero_and_one_at_their_corners(tmp_path: Path) -> None:
    model = _random_denoiser(tmp_path / "denoise-tiny.safetensors")
    data = _write_images(tmp_path / "data")
    args = ["eval", str(model), "--data", str(data), "--alpha", "0,1", "--sigma", "25", "--noise", "8bit", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["task"] == "denoise" and report["images"] == 2
    rows = report["rows"]
    assert [(r["noise"], r["sigma"], r["alpha"]) for r in rows] == [("8bit", 25, 0.0), ("8bit", 25, 1.0)]

    module = load_model(model).module
    images = [read_rgb(f) for f in sorted(data.iterdir())]

    def by_hand(omega: tuple[float, float]) -> float:
        scores = []
        for i, clean in enumerate(images):
            noisy = seeded_awgn(clean, 25.0, 0, i, quantized=True)
            with torch.no_grad():
                out = module(torch.from_numpy(noisy.transpose(2, 0, 1).copy())[None], torch.tensor(omega))
            scores.append(psnr(quantize_8bit(out[0].permute(1, 2, 0).numpy()), clean))
        return float(np.mean(scores))

    gentle, strong = by_hand((1.0, 0.0)), by_hand((0.0, 1.0))
    assert abs(gentle - strong) > 0.05  # the two corners of this random net differ
    assert rows[0]["psnr"] == pytest.approx(gentle, abs=2e-3)  # alpha 0 is ω = (1, 0)
    assert rows[1]["psnr"] == pytest.approx(strong, abs=2e-3)  # alpha 1 is ω = (0, 1)
    noisy_psnr = float(
        np.mean([psnr(quantize_8bit(seeded_awgn(c, 25.0, 0, i, True)), c) for i, c in enumerate(images)])
    )
    assert rows[0]["noisy_psnr"] == pytest.approx(noisy_psnr, abs=2e-3)
    assert noisy_psnr == pytest.approx(20 * math.log10(255 / 25), abs=0.5)


def test_eval_without_alpha_uses_the_matching_alpha(tmp_path: Path) -> None:
    model = _random_denoiser(tmp_path / "denoise-tiny.safetensors")
    data = _write_images(tmp_path / "data", count=1)
    args = ["eval", str(model), "--data", str(data), "--sigma", "5,50", "--noise", "float", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(r["sigma"], r["alpha"]) for r in rows] == [(5, 0.0), (50, 1.0)]
