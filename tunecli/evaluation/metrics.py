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


# ITU-R BT.601 luma as MATLAB's rgb2ycbcr computes it for [0, 1] input: Y in [16, 235] / 255.
_Y_OFFSET = 16.0 / 255.0
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image as MATLAB's ``rgb2ycbcr``: ``Y = (16 + 65.481 R + 128.553 G +
    24.966 B) / 255`` for ``rgb`` ``(H, W, 3)`` in [0, 1].

    Returns float64 ``(H, W)`` in [16/255, 235/255] — MATLAB's Y divided by 255, not rounded
    (MATLAB rounds Y to integers when its input is uint8; BasicSR's ``bgr2ycbcr`` does not).
    """
    a = np.asarray(rgb, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"rgb_to_y needs an (H, W, 3) image, got shape {a.shape}")
    return _Y_OFFSET + a @ _Y_WEIGHTS


def psnr_y(x: np.ndarray, y: np.ndarray, border: int) -> float:
    """PSNR on the luma channel, the super-resolution protocol (e.g. ``border = scale``).

    ``x``, ``y``: ``(H, W, 3)`` RGB or ``(H, W, 1)`` / ``(H, W)`` gray, in [0, 1]; RGB goes
    through :func:`rgb_to_y`, gray is used as Y directly. ``border`` pixels are cropped from
    each side, then :func:`psnr` with ``data_range = 1``: identical to the usual PSNR of Y on the
    0–255 scale with peak 255 (both the error and the peak are scaled by 255).
    """
    return psnr(*_cropped_luma(x, y, border), data_range=1.0)


def ssim_y(x: np.ndarray, y: np.ndarray, border: int) -> float:
    """SSIM on the luma channel, after the same conversion and crop as :func:`psnr_y`.

    :func:`ssim` with ``data_range = 1`` on Y / 255 equals SSIM of Y on the 0–255 scale with
    ``data_range = 255`` (the constants C1 = (0.01·L)², C2 = (0.03·L)² scale with the image).
    Needs at least 11×11 pixels after the crop.
    """
    return ssim(*_cropped_luma(x, y, border), data_range=1.0)


def _luma(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] == 1:
        return a[..., 0]
    if a.ndim == 3 and a.shape[2] == 3:
        return rgb_to_y(a)
    raise ValueError(f"Y-channel metrics need (H, W, 3), (H, W, 1) or (H, W) images, got shape {a.shape}")


def _cropped_luma(x: np.ndarray, y: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x), np.asarray(y)
    if a.shape != b.shape:
        raise ValueError(f"Y-channel metrics need equal shapes, got {a.shape} and {b.shape}")
    if isinstance(border, bool) or not isinstance(border, int) or border < 0:
        raise ValueError(f"border must be a non-negative integer, got {border!r}")
    if min(a.shape[0], a.shape[1]) <= 2 * border:
        raise ValueError(f"a border of {border} leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
    pa, pb = _luma(a), _luma(b)
    if border:
        pa, pb = pa[border:-border, border:-border], pb[border:-border, border:-border]
    return pa, pb
