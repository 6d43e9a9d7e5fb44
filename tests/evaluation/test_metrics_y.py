"""Y-channel (BT.601, MATLAB rgb2ycbcr) PSNR and SSIM: hand values and scikit-image references."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import structural_similarity

from tunecli.evaluation.metrics import psnr, psnr_y, rgb_to_y, ssim, ssim_y


def test_rgb_to_y_hand_values() -> None:
    colours = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float64)
    expected = np.array([16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966]) / 255
    np.testing.assert_allclose(rgb_to_y(colours)[0], expected, atol=1e-12)


def test_rgb_to_y_matches_skimage() -> None:
    image = np.random.default_rng(0).random((9, 13, 3))
    np.testing.assert_allclose(rgb_to_y(image), rgb2ycbcr(image)[..., 0] / 255, atol=1e-12)


def test_psnr_y_closed_form_and_255_scale() -> None:
    a = np.zeros((16, 16, 3))
    b = np.full((16, 16, 3), 0.1)
    # Y differs by 0.1 * (65.481 + 128.553 + 24.966) / 255 = 0.1 * 219 / 255 everywhere.
    assert psnr_y(a, b, border=0) == pytest.approx(-20 * np.log10(0.1 * 219 / 255))
    rng = np.random.default_rng(1)
    x, y = rng.random((20, 24, 3)), rng.random((20, 24, 3))
    y255_x, y255_y = rgb_to_y(x)[2:-2, 2:-2] * 255, rgb_to_y(y)[2:-2, 2:-2] * 255
    on_255 = 10 * np.log10(255**2 / np.mean((y255_x - y255_y) ** 2))
    assert psnr_y(x, y, border=2) == pytest.approx(on_255, abs=1e-10)


def test_ssim_y_matches_skimage_on_255_scale() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((30, 28, 3))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    yx, yy = rgb2ycbcr(x)[3:-3, 3:-3, 0], rgb2ycbcr(y)[3:-3, 3:-3, 0]
    expected = structural_similarity(
        yx, yy, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim_y(x, y, border=3) == pytest.approx(expected, abs=1e-10)


def test_gray_is_its_own_y() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random((15, 15)), rng.random((15, 15))
    assert psnr_y(x[..., None], y[..., None], border=1) == psnr(x[1:-1, 1:-1], y[1:-1, 1:-1])
    assert psnr_y(x, y, border=1) == psnr(x[1:-1, 1:-1], y[1:-1, 1:-1])
    assert ssim_y(x[..., None], y[..., None], border=2) == ssim(x[2:-2, 2:-2], y[2:-2, 2:-2])


def test_border_is_cropped() -> None:
    x = np.random.default_rng(4).random((14, 14, 3))
    y = x.copy()
    y[:3] = 0.0
    y[:, -3:] = 1.0
    assert np.isfinite(psnr_y(x, y, border=2))
    assert psnr_y(x, y, border=3) == float("inf")


def test_errors() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), border=0)
    with pytest.raises(ValueError, match="non-negative integer"):
        psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), border=-1)
    with pytest.raises(ValueError, match="border of 4 leaves nothing of a 8x8 image"):
        ssim_y(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), border=4)
    with pytest.raises(ValueError, match=r"\(H, W, 3\), \(H, W, 1\) or \(H, W\)"):
        psnr_y(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)), border=0)
    with pytest.raises(ValueError, match=r"rgb_to_y needs an \(H, W, 3\) image"):
        rgb_to_y(np.zeros((8, 8)))
