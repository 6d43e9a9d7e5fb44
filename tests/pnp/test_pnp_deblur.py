"""Deblurring with a kernel: kernel files, the alpha mapping (monotonic smoothness), the noise
level (given or estimated), gray and colour arrays, and the real Restorer path end to end."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image as PILImage
from scipy import ndimage, signal

from tunecli.api import Restorer
from tunecli.errors import AlphaError, UsageError
from tunecli.pnp.deblur import (
    DEFAULT_ALPHA,
    assumed_noise,
    deblur_with_kernel,
    estimate_blurred_noise,
    load_kernel,
    schedule_for,
)

SHAKE = np.zeros((5, 7), np.float32)
SHAKE[2, 3], SHAKE[0, 6], SHAKE[4, 1], SHAKE[1, 5] = 0.6, 0.25, 0.1, 0.05
LINE = np.zeros((9, 9), np.float32)
LINE[4, 1:8] = 1 / 7  # a horizontal camera shake: zeros in its spectrum


def gaussian_prior(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A fake denoiser: a Gaussian blur of σ/10 px — smooths more at a higher noise level."""
    width = sigma / 10
    radius = max(1, math.ceil(3 * width))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / width) ** 2)
    taps = (taps / taps.sum()).to(x.dtype)
    planes = F.pad(x[:, None], (radius, radius, radius, radius), mode="replicate")
    planes = F.conv2d(planes, taps.view(1, 1, 1, -1))
    return F.conv2d(planes, taps.view(1, 1, -1, 1))[:, 0]


def blurred_photo(kernel: np.ndarray, sigma: float, side: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean (H, W, 3), valid-blurred + AWGN (H, W, 3)) of a generated piecewise-smooth image."""
    rng = np.random.default_rng(seed)
    kh, kw = kernel.shape
    big = np.stack([ndimage.gaussian_filter(p, 1.5) for p in rng.random((3, side + kh - 1, side + kw - 1))])
    big = np.clip(0.5 + 3 * (big - 0.5), 0, 1)
    blurred = np.stack([signal.fftconvolve(p, kernel, mode="valid") for p in big], axis=2)
    clean = big[:, kh // 2 : kh // 2 + side, kw // 2 : kw // 2 + side].transpose(1, 2, 0)
    noisy = blurred + rng.normal(0, sigma / 255, blurred.shape)
    return clean.astype(np.float32), np.clip(noisy, 0, 1).astype(np.float32)


def gradient_energy(image: np.ndarray) -> float:
    return float(np.mean(np.diff(image, axis=0) ** 2) + np.mean(np.diff(image, axis=1) ** 2))


def test_alpha_is_monotonic_in_smoothness() -> None:
    _, noisy = blurred_photo(LINE, 7.65)
    outputs = [deblur_with_kernel(noisy, LINE, gaussian_prior, a, 7.65) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    energies = [gradient_energy(o) for o in outputs]
    assert all(a > b for a, b in itertools.pairwise(energies)), energies
    assert energies[0] > 1.5 * energies[-1]


def test_the_mapping_of_alpha() -> None:
    assert assumed_noise(DEFAULT_ALPHA, 7.65) == pytest.approx(7.65)
    levels = [assumed_noise(a, 10.0) for a in (0.0, 0.5, 1.0)]
    assert levels[0] < levels[1] < levels[2]
    schedule = schedule_for(0.0, 10.0)
    assert schedule.sigmas[0] == pytest.approx(49.0) and schedule.sigmas[-1] == pytest.approx(levels[0])
    with pytest.raises(AlphaError, match=r"must lie in \[0, 1\], not 1.5"):
        assumed_noise(1.5, 10.0)


def test_noise_level_is_estimated_when_not_given() -> None:
    _, noisy = blurred_photo(SHAKE, 10.0, side=64)
    estimate = estimate_blurred_noise(noisy)
    assert estimate == pytest.approx(10.0, abs=1.5)
    calls: list[float] = []

    def recording(x: torch.Tensor, sigma: float) -> torch.Tensor:
        calls.append(sigma)
        return x

    deblur_with_kernel(noisy, SHAKE, recording, alpha=0.5)
    assert calls == pytest.approx(list(schedule_for(0.5, estimate).sigmas))


@pytest.mark.parametrize("shape", [(20, 24), (20, 24, 1), (20, 24, 3)])
def test_gray_and_colour_arrays_keep_their_layout(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    out = deblur_with_kernel(image, SHAKE, gaussian_prior, 0.5, 5.0)
    assert out.shape == shape and out.dtype == np.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    with pytest.raises(UsageError, match=r"expected a float \(H, W\), \(H, W, 1\) or \(H, W, 3\) image"):
        deblur_with_kernel(np.zeros((20, 24, 2), np.float32), SHAKE, gaussian_prior, 0.5, 5.0)


def test_restorer_prior_end_to_end(tiny_restorer: Callable[..., Restorer]) -> None:
    """Through the real Restorer and the tiling engine (an identity checkpoint): the data step
    alone restores a well-conditioned shake, in tiles as on the whole image."""
    clean, noisy = blurred_photo(SHAKE, 0.0, side=40)
    restorer = tiny_restorer()
    whole = deblur_with_kernel(noisy, SHAKE, restorer, DEFAULT_ALPHA, 2.55, tile=0)
    tiled = deblur_with_kernel(noisy, SHAKE, restorer, DEFAULT_ALPHA, 2.55, tile=48)  # 2 x 2 tiles
    np.testing.assert_allclose(tiled, whole, atol=1e-4)  # float32 tiles, through 8 data steps
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(whole - clean)[inner].mean() < 0.1 * np.abs(noisy - clean)[inner].mean()


def test_kernel_files(tmp_path: Path) -> None:
    png = tmp_path / "k.png"
    PILImage.fromarray(np.pad(np.full((3, 5), 200, np.uint8), 1)).save(png)
    kernel = load_kernel(png)
    assert kernel.shape == (5, 7) and float(kernel.sum()) == pytest.approx(1.0)
    stack = tmp_path / "ks.npy"
    np.save(stack, np.stack([SHAKE, LINE[:5, :7] + 0.01]))
    np.testing.assert_allclose(load_kernel(stack, 0), SHAKE / SHAKE.sum())
    with pytest.raises(UsageError, match=r"ks\.npy: holds 2 kernels; choose one \(0 to 1\)"):
        load_kernel(stack)
    with pytest.raises(UsageError, match=r"ks\.npy: no kernel 2; it holds 2 \(0 to 1\)"):
        load_kernel(stack, 2)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array")
    with pytest.raises(UsageError, match=r"junk\.npy: not a readable \.npy array") as error:
        load_kernel(junk)
    assert "\n" not in str(error.value) and error.value.exit_code == 2
    with pytest.raises(UsageError, match=r"missing\.png: no such kernel file"):
        load_kernel(tmp_path / "missing.png")
