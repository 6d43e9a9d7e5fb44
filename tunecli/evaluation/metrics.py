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


#: The grid measure's lattice: every period-4 pattern (and so every period-2 one) has its whole
#: spectrum at the frequencies (i/4, j/4) cycles/px, i, j ∈ {0, 1, 2, 3}, (i, j) ≠ (0, 0).
GRID_PERIOD = 4
#: Half-width in DFT bins of the square read at each lattice frequency (the periodic Hann
#: window's main lobe: a pattern of exactly that frequency has all its energy in these 3 × 3 bins).
GRID_LOBE = 1
#: Chebyshev distances in DFT bins of the neighbouring frequencies (inclusive).
GRID_RING = (3, 8)
#: Smallest height and width of the error, after the border and the crop to multiples of 4: a
#: lattice frequency lies 16 bins from the next, so no neighbourhood reaches another lobe or DC.
GRID_MIN_SIDE = 64


def grid_measure(x: np.ndarray, y: np.ndarray, border: int = 0) -> float:
    """How much the luma error ``x − y`` peaks at the 2-px and 4-px periods — the checkerboard
    of pixel-shuffle upsamplers on flat areas — relative to its neighbouring frequencies.

    ≈ 1 for an error without a grid (white noise: ≈ 0.9; a clean bicubic upscale of a photo:
    0.7–1.2; a smooth error: at most ≈ 1); a checkerboard raises it, by about its amplitude over
    the local error level at each lattice frequency it occupies, averaged over the 15.

    Definition, with ``x`` the output and ``y`` the reference (high-resolution) image:

    1. ``e = Y(x) − Y(y)`` with the BT.601 luma of :func:`psnr_y` (RGB through :func:`rgb_to_y`,
       gray used as is); ``border`` pixels cropped from each side, then the bottom rows and right
       columns beyond a multiple of 4 (so that every lattice frequency below is a DFT bin).
    2. Its mean removed, ``e`` is multiplied by a separable periodic Hann window (no leakage from
       the image borders) and ``M = |DFT₂(e)|`` taken.
    3. At each of the 15 frequencies ``(i/4, j/4)`` cycles/px, i, j ∈ {0, 1, 2, 3} but not both
       0 (1/2 and ±1/4 along each axis and all their diagonal combinations), with offsets
       ``(dy, dx)`` in DFT bins from it (wrapping around): the *lobe* is the geometric mean of
       ``M`` over the 3 × 3 bins ``max(|dy|, |dx|) ≤ 1``; the *neighbours* are four bands of the
       ring ``3 ≤ max(|dy|, |dx|) ≤ 8``, each 3 bins wide through the centre — along the rows
       ``|dy| ≤ 1``, the columns ``|dx| ≤ 1`` and the diagonals ``|dy − dx| ≤ 1``,
       ``|dy + dx| ≤ 1`` (36 bins each) — and ``r = lobe / max(geometric mean over each band)``.
    4. The measure is the arithmetic mean of the 15 ratios ``r``.

    Why so: geometric means follow a log-spectrum that falls steeply but smoothly, as a smooth
    error's does; the largest band discounts a ridge of the spectrum through the frequency (the
    border leakage along the axes, straight edges' replicas) that a true periodic pattern, a lone
    peak, is not; the arithmetic mean over frequencies lets a peak at a single one count.
    Magnitudes are floored at 1e-12 of the largest one (an all-zero error gives 1).

    ``x``, ``y``: real (integer or float) arrays of one shape, ``(H, W, 3)`` RGB or ``(H, W, 1)`` /
    ``(H, W)`` gray; the measure is a ratio, so their common scale does not matter. At least
    ``GRID_MIN_SIDE`` (64) pixels each way must remain after ``border`` and the crop.
    """
    for name, value in (("output", x), ("reference", y)):
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"grid_measure needs real numeric arrays, got {kind} for the {name}")
    luma_x, luma_y = _cropped_luma(x, y, border)
    error = luma_x - luma_y
    h, w = (side - side % GRID_PERIOD for side in error.shape)
    if min(h, w) < GRID_MIN_SIDE:
        raise ValueError(f"grid_measure needs at least {GRID_MIN_SIDE}x{GRID_MIN_SIDE} pixels, got {h}x{w}")
    error = error[:h, :w]
    if not np.isfinite(error).all():
        raise ValueError("grid_measure needs finite values")
    window = np.outer(_periodic_hann(h), _periodic_hann(w))
    magnitude = np.abs(np.fft.fft2((error - error.mean()) * window))
    peak = float(magnitude.max())
    log_magnitude = np.log(np.maximum(magnitude, peak * 1e-12 if peak > 0 else 1.0))
    near, far = GRID_RING
    square = np.arange(-far, far + 1)
    dy, dx = np.meshgrid(square, square, indexing="ij")
    distance = np.maximum(np.abs(dy), np.abs(dx))
    lobe = distance <= GRID_LOBE
    ring = (distance >= near) & (distance <= far)
    bands = [ring & (np.abs(offset) <= 1) for offset in (dy, dx, dy - dx, dy + dx)]
    ratios = []
    for i in range(GRID_PERIOD):
        for j in range(GRID_PERIOD):
            if i == 0 and j == 0:
                continue
            rows = (i * h // GRID_PERIOD + dy) % h
            cols = (j * w // GRID_PERIOD + dx) % w
            patch = log_magnitude[rows, cols]
            neighbours = max(patch[band].mean() for band in bands)
            ratios.append(np.exp(patch[lobe].mean() - neighbours))
    return float(np.mean(ratios))


def _periodic_hann(n: int) -> np.ndarray:
    """The periodic Hann window ``0.5 − 0.5·cos(2πk/n)``: its DFT has 3 non-zero bins."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
