"""Metrics agree with scikit-image's reference implementations and with closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim


def test_psnr_closed_form() -> None:
    a = np.zeros((8, 8, 3))
    b = np.full((8, 8, 3), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")


@pytest.mark.parametrize("shape", [(40, 50, 3), (33, 20)])
def test_matches_skimage(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    a = rng.random(shape)
    b = np.clip(a + 0.1 * rng.standard_normal(shape), 0, 1)
    axis = 2 if len(shape) == 3 else None
    expected = structural_similarity(
        a, b, channel_axis=axis, data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0)


def test_quantize_and_errors() -> None:
    assert np.array_equal(quantize_8bit(np.array([0.0, 0.5, 1.2, -1.0])) * 255, [0, 128, 255, 0])
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
