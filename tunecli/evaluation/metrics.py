"""Full-reference image-quality metrics on numpy arrays (no torch).

Inputs are float arrays of the same shape, ``(H, W)`` or ``(H, W, C)``, in ``[0, data_range]``.
The literature's protocol (RGB, 8-bit quantized) is the caller's choice: see :func:`quantize_8bit`.
"""

from __future__ import annotations

import numpy as np


def quantize_8bit(x: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to the 256 levels an 8-bit file stores (float64 result)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 255.0), 0, 255) / 255.0


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (inf for identical images)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs equal shapes, got {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D image with a 1-D window on both axes."""
    k = window.size
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ window
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ window


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, K1 = 0.01,
    K2 = 0.03, valid region), averaged over channels."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim needs equal shapes, got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[0], a.shape[1]) < 11:
        raise ValueError("ssim needs images of at least 11x11 pixels")
    window = _gaussian_window()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    scores = []
    for c in range(a.shape[2]):
        p, q = a[..., c], b[..., c]
        mu_p, mu_q = _filter_valid(p, window), _filter_valid(q, window)
        var_p = _filter_valid(p * p, window) - mu_p**2
        var_q = _filter_valid(q * q, window) - mu_q**2
        cov = _filter_valid(p * q, window) - mu_p * mu_q
        num = (2 * mu_p * mu_q + c1) * (2 * cov + c2)
        den = (mu_p**2 + mu_q**2 + c1) * (var_p + var_q + c2)
        scores.append(float(np.mean(num / den)))
    return float(np.mean(scores))
