"""Noise-level estimation: the σ of additive white Gaussian noise (AWGN) in one image.

Method — weak-texture patches (Liu, Tanaka & Okutomi, "Single-image noise level estimation for
blind denoising", IEEE TIP 2013) with the eigenvalue statistics of Chen, Zhu & Heng ("An
efficient statistical method for image noise level estimation", ICCV 2015), written here:

1. Every overlapping ``s × s`` patch (s = 7; 5 or 3 on small images) is a vector of ``d``
   samples. Its *texture strength* is its in-patch gradient energy
   ``ξ = Σ (horizontal differences)² + Σ (vertical differences)²``.
2. For a patch of pure noise of level σ, ``ξ = σ²·nᵀMn`` with ``n`` standard normal and
   ``M = DₕᵀDₕ + DᵥᵀDᵥ``; ``ξ/σ²`` is approximated by the Gamma law with its exact mean
   ``tr M`` and variance ``2 tr M²``. A patch is *weak-textured* when ``ξ`` is below that law's
   99 % point at the current σ (Wilson–Hilferty for the quantile, so no scipy).
3. The covariance of the weak-textured patches has the image's few remaining signal directions
   on top and the noise eigenvalues below, spread over the Marchenko–Pastur bulk
   ``σ²·(1 ± √(k/n))²`` (k noise eigenvalues, n patches). σ² is the mean of the k smallest
   eigenvalues for the largest k whose top one lies inside that bulk (Chen et al. use the mean
   too: its expectation is σ² for any n, while the smallest eigenvalue that Liu et al. use is
   biased low by the bulk's lower edge). The edge is widened by :data:`EDGE_SLACK` because the
   selected patches overlap, which makes them worth fewer than n independent ones.
4. Steps 2–3 repeat from the all-patch estimate until σ moves by less than 0.1 % (at most
   :data:`MAX_ITERATIONS` times); the colour-patch estimate below starts from the single-channel
   one instead, which lies close (it saves its costliest pass, over every patch). The all-patch
   estimate is taken on a sparser lattice of at most :data:`START_PATCHES`: as a start it gives
   the same answers on CBSD68 and McMaster (to 0.02); where the iteration stops early for want of
   flat patches (real photos with little noise) the answer can move by up to a tenth (RNI15's
   Stars: 1.73 → 1.58).

Colour. Patches of all channels together (``d = 49·3``) separate signal from noise best, but if
the noise is shared by the channels (a camera's YCbCr pipeline, gray noise on a colour image)
their weakest colour direction holds little noise and the estimate collapses. So the estimate is
also made on single-channel patches pooled over the channels (``d = 49``), and the joint one is
kept only when it is at least :data:`CHANNEL_AGREEMENT` of the pooled one; otherwise the pooled
one is the answer (the per-channel σ, which is what the denoisers are trained on).

Clipping. An image saved to 8 bits was clipped to [0, 1] before rounding, which shrinks the
noise wherever the signal is near 0 or 1 (flat saturated areas look noise-free), so an estimator
that ignores it reads σ 50 as about 42 on ordinary photos (scikit-image's ``estimate_sigma``
does). Dropping the patches that touch 0 or 1 is not enough: those that survive near a bound
are the ones whose noise happened not to reach it, so σ is still biased low. Instead, when the
image holds samples at exactly 0 or 1 and none outside [0, 1] (a clipped image), patches whose
mean lies within one σ of a bound (in any channel) are left out, and the variance measured on
the others is matched to a model: the variance of a clipped normal ``clip(μ + σ·n, 0, 1)``
averaged over the local levels (3×3 means) of the pixels of the selected patches; the σ whose
model variance equals the measurement is the estimate (bisection). The 1/12 level² that rounding
to 8 bits adds is left in (the denoisers see it too).

Assumptions: the noise is white (independent from pixel to pixel), Gaussian, of one level over
the image, and the image has some flat or smooth areas (photos do). Spatially correlated noise
(demosaicked raw, JPEG, resized images) reads lower than its per-pixel σ; signal-dependent noise
reads as the level of the image's flat areas. An 8-bit image without noise reads about 0.5.

Cost. The patches (n ≤ :data:`MAX_PATCHES` lattice positions) are gathered only where a sum
needs them, in float32 blocks small enough to stay in the cache; their products cost ``n·d²``
for the first selection, then only for the patches that join or leave it (a few per cent),
summed in float64. The products are numpy's ``xᵀ·x``, which its BLAS runs as a symmetric rank-k
update (half the work of torch's general product: 2.7 against 4.9 ms for 8192 patches of 147
samples on one core), with numpy's BLAS held to one thread while estimates run
(:class:`_OneBlasThread`): its own threads made the estimate slower on 2 cores, and on a busy
machine they competed with torch's (the products took up to three times as long). Torch is kept
out of the sums: its threads, waking for each of the estimate's many small operations, made it
1.5–3 times slower and erratic on 2 cores (up to 15 ms for a product of 61 patches), and its
thread count is the caller's, which a batch uses for the model while it estimates the next image.
The blocks of one sum are shared among as many Python threads as torch is given (numpy releases
the GIL while it multiplies, and partly while it gathers: the gathering scales to 1.1–1.3 times
on 2 threads, the whole sum to 1.6), cut into an even number of equal blocks and their sums
added in the blocks' order whichever thread made them (the same result on any number of
threads); the few patches of an iteration's changes (at most :data:`_INLINE_ROWS`) are one
block summed on the calling thread. The same threads run the estimate's independent steps at
once: the gradient-energy maps of each channel and the level bins at the start, the colour patch
set's construction while the pooled estimate iterates, and a clipped image's level histogram while
the patch sums of the same selection run (on photo-sized images the larger gain; on 481×321
the hand-offs cost about what they save). The column sums are a product with a row of ones (BLAS,
2–4 times faster than numpy's reduction). The products and the gathering are most of the time,
and the lattice is kept this dense on purpose: with fewer patches the Marchenko–Pastur edge
widens and lets weak signal directions in (a third fewer colour patches read σ 0.01–0.2 higher
on average on CBSD68 and McMaster; starting the colour estimate from a pooled estimate on a
sparser lattice saved a quarter of the time but moved low-noise estimates by up to 0.7). An
iteration that falls into a 2-cycle (the selection of two steps back comes back) stops there
with the value the last iteration would reach. The gradient energies come from box sums over
the image (small images; sums of 1, 2, 4 … samples, so a 7-px window takes 4 passes an axis)
or from the gathered patches (large ones, where the lattice is sparse); the level histogram of
a clipped image from a box sum of the selection over the image; the clipped-normal model is
solved for σ by regula falsi (about 6 evaluations, 3–4 from the last iteration's ratio to the
measured σ). A cheaper level model, each selected patch's own mean instead of its pixels' 3×3
levels, was measured and rejected: it reads σ 50 on 8-bit CBSD68 0.7 low on average (worst
error 7.5 against 1.6). Larger images are read through at most 4 × 4 evenly spread
:data:`REGION_SIDE`-px regions.
``bench/noise_estimation.py`` times the estimate against the default denoiser on the same images
(``bench/results/noise_estimation_speed.md``).

Accuracy (``tests/estimation/test_noise.py``: seeded AWGN on 256-px crops of scikit-image's
astronaut, camera and chelsea, float and 8-bit clipped): |error| ≤ 1.0 at σ ≤ 30 and ≤ 2.0 at
σ 50. ``bench/noise_estimation.py`` measures bias and spread per σ on CBSD68 and McMaster.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from functools import cache, partial
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Patch sides tried in order: the largest that gives at least :data:`MIN_PATCHES_PER_DIM`·d patches.
PATCH_SIDES = (7, 5, 3)
#: A covariance is only trusted with at least this many patches per dimension (k/n ≤ 0.25).
MIN_PATCHES_PER_DIM = 4
#: The standard normal quantile of the weak-texture test: patches below the 99 % point of pure noise.
TEXTURE_QUANTILE_Z = 2.326
#: Widening of the Marchenko–Pastur edge (the ratio k/n is multiplied by it): overlapping patches.
EDGE_SLACK = 2.0
#: Clipped images: patches whose mean is within this many σ of 0 or 1 are left out.
CLIP_MARGIN = 1.0
MAX_ITERATIONS = 10
#: The joint (colour-patch) estimate is kept when it is at least this share of the pooled one.
CHANNEL_AGREEMENT = 0.75
#: At most this many patch positions are used (evenly spaced over the regions).
MAX_PATCHES = 100_000
#: The iteration starts from the estimate of all the patches of a lattice of at most this many.
START_PATCHES = 25_000
#: Lattices of at most this step (small images) read the patches' gradient energy off maps of every
#: position; sparser ones compute it from the patches themselves (measured: maps the faster up to a
#: 1024×800 photo, step 31; patches the faster, and half the memory, on 4000×3000, step 123).
DENSE_STEP = 32
#: Larger images are read through a grid of at most REGION_GRID × REGION_GRID regions of this side.
REGION_SIDE = 512
REGION_GRID = 4
_HISTOGRAM_BINS = 256
_RELATIVE_TOLERANCE = 1e-3
#: The clipped-variance model is solved for σ to this share of the measured variance, in at most so many steps.
_ROOT_TOLERANCE = 1e-8
_ROOT_STEPS = 30
#: A guess of the root is bracketed by this factor either way.
_GUESS_STEP = 1.02
#: Patches are gathered and multiplied in float32 blocks of at most this many (products summed in
#: float64): small enough that a block is still in the cache when it is used (32768 took a fifth longer).
_BLOCK_ROWS = 8192
#: At most this many patches are summed as one block on the calling thread (handing the blocks
#: of several stacks to threads cost more than their products).
_INLINE_ROWS = 2048


def estimate_noise_sigma(image: np.ndarray) -> float:
    """The level of additive white Gaussian noise in ``image``, σ on the 0–255 scale.

    ``image``: ``(H, W)`` or ``(H, W, C)`` float samples, 0 = black and 1 = full scale (divide
    8-bit samples by 255), finite; noise that was not clipped may stray outside [0, 1]. It needs
    at least about 8×8 px. Returns 0.0 for a constant image. Deterministic (to float rounding
    where numpy's BLAS runs on another number of threads). Raises
    ``ValueError`` for a wrong shape or dtype, non-finite samples or too small an image.
    See the module docstring for the method, its assumptions and its cost.
    """
    import torch

    workers = max(1, torch.get_num_threads())  # the parallelism the caller gave torch
    with _ONE_BLAS_THREAD, ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        return _estimate(np.asarray(image), pool)


class _OneBlasThread:
    """Holds numpy's BLAS to one thread while any estimate runs (see "Cost" in the module
    docstring) and sets its thread count back when the last one ends: estimates may run at once
    on several threads (a batch decodes and estimates on background threads), and none may set
    back what another still needs. (With numpy 2.4's OpenBLAS, a limit set on a background thread
    after one was set back on the main thread was seen not to take: the estimate is then slower
    there, by about a tenth, and equal to float rounding.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._limit: Any = None  # threadpoolctl's limit while held

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        with self._lock:
            if self._holders == 0:
                self._limit = threadpool_limits(1, user_api="blas")
            self._holders += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                self._limit.restore_original_limits()
                self._limit = None


_ONE_BLAS_THREAD = _OneBlasThread()


def _estimate(planes: np.ndarray, pool: ThreadPoolExecutor | None) -> float:
    """:func:`estimate_noise_sigma` of ``planes``; ``pool``: threads for the patch sums
    (:meth:`_PatchSet._sums`), or None to sum on this one."""
    shape = planes.shape
    if planes.ndim == 2:
        planes = planes[:, :, None]
    if planes.ndim != 3 or planes.shape[2] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {shape}")
    if not np.issubdtype(planes.dtype, np.floating):
        raise ValueError(f"expected float samples in [0, 1], got {planes.dtype} (divide 8-bit samples by 255)")
    if not np.isfinite(planes).all():
        raise ValueError("the image holds NaN or infinite samples")
    height, width, channels = planes.shape
    clipped = bool(planes.min() >= 0 and planes.max() <= 1 and ((planes == 0) | (planes == 1)).any())
    regions = [np.ascontiguousarray(planes[rows, cols], dtype=np.float32) for rows, cols in _regions(height, width)]
    pooled_side = _patch_side(regions, 1)
    if pooled_side is None:
        raise ValueError(f"a {height}x{width} image is too small to estimate its noise level")
    joint_side = _patch_side(regions, channels) if channels > 1 else None
    # a dense lattice (a small image) reads its patches' gradient energy off maps of every
    # position; a sparse one (a large image) computes it from the patches it gathers
    dense = _lattice_step(regions, pooled_side) <= DENSE_STEP
    sides = sorted({pooled_side, joint_side or pooled_side}) if dense else []
    # the planes' maps and the level bins are independent: made on the pool's threads at once
    jobs = [partial(_plane_maps, r[:, :, c], side) for side in sides for r in regions for c in range(channels)]
    jobs += [partial(_level_bins, r) for r in regions] if clipped else []
    made = _run(pool, jobs)
    planes_maps = {
        side: made[i * len(regions) * channels : (i + 1) * len(regions) * channels] for i, side in enumerate(sides)
    }
    bins = made[len(sides) * len(regions) * channels :] if clipped else None
    joint = None
    if joint_side is not None:
        # built on a thread of the pool while the pooled estimate runs: it does not need its σ
        joint_maps = (
            [_joint_maps(planes_maps[joint_side][i * channels : (i + 1) * channels]) for i in range(len(regions))]
            if dense
            else None
        )
        joint = _submit(pool, partial(_PatchSet, regions, joint_side, joint_maps, bins, pool))
    pooled = _PatchSet(
        [r[:, :, c : c + 1] for r in regions for c in range(channels)],
        pooled_side,
        planes_maps[pooled_side] if dense else None,
        [b[:, :, c : c + 1] for b in bins for c in range(channels)] if bins is not None else None,
        pool,
    ).estimate()
    if joint is None:
        return 255.0 * pooled
    # from the pooled σ, which lies close: it saves the joint's costliest pass, over every patch
    joint = joint.result().estimate(start=pooled)
    # white noise: both measure σ and the joint one more closely; noise shared by the channels:
    # the joint one sees only its weakest colour direction and falls well below the pooled one
    return 255.0 * (joint if joint >= CHANNEL_AGREEMENT * pooled else pooled)


def _patch_side(regions: list[np.ndarray], channels: int) -> int | None:
    """The largest of :data:`PATCH_SIDES` giving :data:`MIN_PATCHES_PER_DIM` patches per
    dimension for ``side × side × channels`` patches (pooled over the channels when 1)."""
    for side in PATCH_SIDES:
        positions = sum(max(0, r.shape[0] - side + 1) * max(0, r.shape[1] - side + 1) for r in regions)
        if channels == 1:
            positions *= regions[0].shape[2]
        if positions >= MIN_PATCHES_PER_DIM * side * side * channels:
            return side
    return None


def _lattice_step(regions: list[np.ndarray], side: int) -> int:
    """The lattice step of single-channel ``side × side`` patches of ``regions`` (see :class:`_PatchSet`)."""
    positions = sum((r.shape[0] - side + 1) * (r.shape[1] - side + 1) * r.shape[2] for r in regions)
    return max(1, math.ceil(positions / MAX_PATCHES))


def _regions(height: int, width: int) -> list[tuple[slice, slice]]:
    """The whole image, or for one larger than 2 regions' worth, a grid of at most
    :data:`REGION_GRID` × :data:`REGION_GRID` evenly spread :data:`REGION_SIDE`-px squares."""
    if height * width <= 2 * REGION_SIDE * REGION_SIDE:
        return [(slice(0, height), slice(0, width))]
    rows = min(math.ceil(height / REGION_SIDE), REGION_GRID)
    cols = min(math.ceil(width / REGION_SIDE), REGION_GRID)
    h, w = min(REGION_SIDE, height), min(REGION_SIDE, width)
    tops = np.linspace(0, height - h, rows).round().astype(int)
    lefts = np.linspace(0, width - w, cols).round().astype(int)
    return [(slice(t, t + h), slice(left, left + w)) for t in tops for left in lefts]


def _box_sum(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Sums of ``plane`` ``(H, W)`` over every ``height × width`` window: ``(H−height+1, W−width+1)``,
    in ``plane``'s dtype. Along each axis, :func:`_window_sums`."""
    return _window_sums(_window_sums(plane, height, 0), width, 1)


def _window_sums(array: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Sums of ``length`` consecutive samples along ``axis`` (0 or 1) of a 2-D ``array``. From
    sums of 1, 2, 4, … samples, each the sum of two of the one before, added along the binary
    digits of ``length``: 4 passes for the 7 of a patch side where adding shifted copies took 7
    (a summed-area table would take fewer, but numpy's cumsum runs element by element, and
    measured several times slower)."""

    def shifted(a: np.ndarray, start: int, count: int) -> np.ndarray:
        return a[start : start + count] if axis == 0 else a[:, start : start + count]

    out_len = array.shape[axis] - length + 1
    total: np.ndarray | None = None
    offset, power, span = 0, array, 1
    remaining = length
    while True:
        if remaining & 1:
            part = shifted(power, offset, out_len)
            total = part.copy() if total is None else np.add(total, part, out=total)
            offset += span
        remaining >>= 1
        if not remaining:
            break
        count = power.shape[axis] - span
        power = shifted(power, 0, count) + shifted(power, span, count)
        span *= 2
    assert total is not None
    return total


def _column_sums(block: np.ndarray) -> np.ndarray:
    """Σ over the rows of ``block`` float32 ``(m, d)``: float64 ``(d,)``. A product with a row of
    ones, through the BLAS (float32 sums of ~1e-7 of their value, 2–4 times faster than numpy's
    reduction): what the covariance takes from them, ``count·mean·meanᵀ``, is ~1e-4 of the products
    for a mean of the centred samples, so their error weighs ~1e-11 against σ²."""
    return (np.ones(len(block), dtype=np.float32) @ block).astype(np.float64)


def _texture_and_margin(patches: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Per patch of ``patches`` (float32 ``(n, s, s, c)``, less ``offset``): the gradient energy ξ
    (over the channels), and how far the patch mean lies from 0 or 1 (its closest channel);
    float64 ``(n,)`` (what :func:`_channel_maps` gives at every position).

    In torch and float32 (its sums are pairwise: ~1e-7 of the sum, which only the thresholds
    read): numpy's float64 einsum and its reductions over these small axes took twice as long."""
    import torch

    samples = torch.from_numpy(patches)
    texture = (samples[:, 1:] - samples[:, :-1]).square().sum(dim=(1, 2, 3)).double()
    texture += (samples[:, :, 1:] - samples[:, :, :-1]).square().sum(dim=(1, 2, 3)).double()
    means = samples.sum(dim=(1, 2)).double() / (patches.shape[1] * patches.shape[2]) + offset
    return texture.numpy(), torch.minimum(means, 1.0 - means).amin(dim=1).numpy()


def _plane_maps(plane: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ``side × side`` patch position of ``plane`` (float32 ``(h, w)``, one channel of a
    region): the gradient energy ξ, and how far the patch mean lies from 0 or 1; float32
    ``(h', w')`` each (sums of a few dozen terms: ~1e-7 of their value, which only the
    thresholds read; float64 took a tenth of the estimate's time)."""
    horizontal, vertical = np.diff(plane, axis=1) ** 2, np.diff(plane, axis=0) ** 2
    texture = _box_sum(horizontal, side, side - 1) + _box_sum(vertical, side - 1, side)
    means = _box_sum(plane, side, side) / (side * side)
    return texture, np.minimum(means, 1.0 - means)


def _joint_maps(planes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The maps of patches of all the channels from their planes' (:func:`_plane_maps`): the
    gradient energy summed over the channels, the least distance of a channel's mean from a bound."""
    textures, margins = zip(*planes, strict=True)
    return np.stack(textures).sum(axis=0), np.stack(margins).min(axis=0)


def _run(pool: ThreadPoolExecutor | None, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Each job's result, in order: run on the pool's threads (numpy releases the GIL in its
    array loops), or on this one without a pool."""
    return [future.result() for future in [_submit(pool, job) for job in jobs]]


def _submit(pool: ThreadPoolExecutor | None, job: Callable[[], Any]) -> Future[Any]:
    """``job`` started on the pool (or run here at once without one): its future."""
    if pool is not None:
        return pool.submit(job)
    done: Future[Any] = Future()
    done.set_result(job())
    return done


def _level_bins(stack: np.ndarray) -> np.ndarray:
    """The :data:`_HISTOGRAM_BINS` bin of each sample's local level (its 3×3 mean, edges
    repeated) in ``stack`` ``(h, w, c)``: uint8 ``(h, w, c)``."""
    padded = np.pad(stack, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = padded[:-2] + padded[1:-1]
    rows += padded[2:]
    local = rows[:, :-2] + rows[:, 1:-1]
    local += rows[:, 2:]
    local *= np.float32(_HISTOGRAM_BINS / 9)  # the bin of the mean: 9 samples' sum in bin units
    return np.clip(local, 0, _HISTOGRAM_BINS - 1, out=local).astype(np.uint8)


@cache
def _texture_threshold(side: int, channels: int) -> float:
    """The 99 % point of ``ξ/σ²`` for a pure-noise ``side × side × channels`` patch."""
    operators = []
    for i in range(side):
        for j in range(side):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < side and j + dj < side:
                    row = np.zeros((side, side))
                    row[i, j], row[i + di, j + dj] = -1.0, 1.0
                    operators.append(row.ravel())
    difference = np.array(operators)
    m = difference.T @ difference
    trace, trace_sq = channels * float(np.trace(m)), channels * float(np.trace(m @ m))
    shape, scale = trace**2 / (2 * trace_sq), 2 * trace_sq / trace  # Gamma(shape, scale) has mean tr M
    dof = 2 * shape  # 2·X/scale is chi-squared with 2·shape degrees of freedom
    chi2 = dof * (1 - 2 / (9 * dof) + TEXTURE_QUANTILE_Z * math.sqrt(2 / (9 * dof))) ** 3
    return scale * chi2 / 2


def _noise_variance(eigenvalues: np.ndarray, count: int) -> float:
    """The mean of the k smallest eigenvalues for the largest k whose top one lies within the
    (widened) Marchenko–Pastur bulk of their mean (step 3 of the module docstring)."""
    ascending = np.sort(np.maximum(eigenvalues, 0.0))
    means = np.cumsum(ascending) / np.arange(1, len(ascending) + 1)
    k = np.arange(1, len(ascending) + 1)
    inside = ascending <= means * (1 + np.sqrt(EDGE_SLACK * k / count)) ** 2
    largest = int(np.nonzero(inside)[0].max())  # k = 1 is always inside
    return float(means[largest])


def _normal_cdf(t: np.ndarray) -> np.ndarray:
    import torch  # numpy has no erf; math.erf element by element was a tenth of the estimate's time

    return 0.5 * (1.0 + torch.special.erf(torch.from_numpy(np.asarray(t, dtype=np.float64) / math.sqrt(2.0))).numpy())


def _clipped_moments(mu: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``clip(μ + σ·n, 0, 1)``, n standard normal, for each ``μ``."""
    a, b = -mu / sigma, (1.0 - mu) / sigma
    cdf_a, cdf_b = _normal_cdf(np.stack((a, b)))  # one call: each costs more than its samples
    pdf_a, pdf_b = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi), np.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
    inside = cdf_b - cdf_a
    mean = (1 - cdf_b) + mu * inside + sigma * (pdf_a - pdf_b)
    second = (
        (1 - cdf_b) + mu * mu * inside + 2 * mu * sigma * (pdf_a - pdf_b) + sigma**2 * (inside + a * pdf_a - b * pdf_b)
    )
    return mean, np.maximum(second - mean * mean, 0.0)


def _clipped_variance(levels: np.ndarray, weights: np.ndarray, sigma: float) -> float:
    """The average variance of clipped noise of level ``sigma`` at pixels whose clipped mean is
    ``levels`` (weighted by ``weights``, summing to 1)."""
    mu = np.linspace(-5 * sigma, 1 + 5 * sigma, 401)
    mean, variance = _clipped_moments(mu, sigma)  # mean rises with μ, so it can be interpolated
    return float(np.dot(np.interp(levels, mean, variance), weights))


def _unclipped_sigma(measured: float, levels: np.ndarray, weights: np.ndarray, guess: float | None = None) -> float:
    """The σ (0–1 scale) whose clipped noise has the ``measured`` variance at these levels.

    The model's variance rises smoothly with σ: bracketed from √measured up (clipping only ever
    shrinks the variance), or from ``guess`` (the last iteration's ratio to √measured: within a
    per cent or two) by :data:`_GUESS_STEP` either way, the root is found by regula falsi with the
    Illinois rule, which reaches :data:`_ROOT_TOLERANCE` in about 6 evaluations of the model,
    bracketing included, where bisection took 25 or more (about 4 from a guess)."""

    def excess(sigma: float) -> float:
        return _clipped_variance(levels, weights, sigma) - measured

    floor = math.sqrt(measured)
    if guess is not None and floor < guess < 1.0:
        high, high_excess = guess, excess(guess)
        if high_excess >= 0:  # the root lies below the guess
            low = max(floor, guess / _GUESS_STEP)
            low_excess = excess(low)
            if low_excess >= 0 and low > floor:  # and below that too: bracket down to the floor
                high, high_excess, low = low, low_excess, floor
                low_excess = excess(floor)
        else:
            low, low_excess = high, high_excess
            high = min(1.0, guess * _GUESS_STEP)
            high_excess = excess(high)
    else:
        low = high = floor
        low_excess = high_excess = excess(high)
    while high_excess < 0:
        low, low_excess = high, high_excess
        high *= 1.25
        if high >= 1.0:
            return 1.0
        high_excess = excess(high)
    if low_excess >= 0:  # nothing is clipped
        return low
    middle, kept = high, 0  # kept: the end the last step kept, -1 low, +1 high
    for _ in range(_ROOT_STEPS):
        middle = high - high_excess * (high - low) / (high_excess - low_excess)
        middle_excess = excess(middle)
        if abs(middle_excess) <= _ROOT_TOLERANCE * measured:
            break
        if middle_excess < 0:
            low, low_excess = middle, middle_excess
            high_excess *= 0.5 if kept == 1 else 1.0  # Illinois: an end kept twice is pulled in
            kept = 1
        else:
            high, high_excess = middle, middle_excess
            low_excess *= 0.5 if kept == -1 else 1.0
            kept = -1
    return middle


class _PatchSet:
    """The candidate patches of an image and the statistics of a subset of them.

    ``stacks``: float32 ``(h, w, c)`` arrays (regions of the image, or single channels of them),
    each cut into ``side × side × c`` patches, of which at most :data:`MAX_PATCHES` on a lattice
    evenly spread over all the positions are candidates, gathered (less a common offset) only
    when a sum over them is taken (see :meth:`_blocks`). ``maps``: per stack, the gradient
    energy and the distance of the mean from 0 or 1 of the patch at every position (see
    :func:`_channel_maps`), or None to compute them from the patches.
    ``bins``: for a clipped image, the same stacks' :func:`_level_bins`.
    """

    def __init__(
        self,
        stacks: list[np.ndarray],
        side: int,
        maps: list[tuple[np.ndarray, np.ndarray]] | None,
        bins: list[np.ndarray] | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        self.side = side
        self.pool = pool
        self.clipped = bins is not None
        channels = stacks[0].shape[2]
        self.dim = side * side * channels
        self.threshold = _texture_threshold(side, channels)
        positions = sum((p.shape[0] - side + 1) * (p.shape[1] - side + 1) for p in stacks)
        step = max(1, math.ceil(positions / MAX_PATCHES))
        # the sums of products are taken of samples less the image's mean: small values, so that
        # float32 blocks lose nothing that matters (the noise variance is ~1e-4 of the products)
        self.offset = float(np.mean([stack.mean(dtype=np.float64) for stack in stacks]))
        self.windows: list[np.ndarray] = []  # per stack: (h', w', s, s, c), a patch one contiguous row
        self.lattices: list[tuple[np.ndarray, tuple[int, int]]] = []  # per stack: positions, their grid
        self.cells: list[tuple[np.ndarray, np.ndarray]] = []  # per stack: the positions' rows and columns
        for stack in stacks:
            grid = (stack.shape[0] - side + 1, stack.shape[1] - side + 1)
            flat = np.arange(0, grid[0] * grid[1], step)  # a staggered lattice, the same on every run
            centred = stack - np.float32(self.offset)
            self.windows.append(sliding_window_view(centred, (side, side), axis=(0, 1)).transpose(0, 1, 3, 4, 2))
            self.lattices.append((flat, grid))
            self.cells.append(np.unravel_index(flat, grid))
        self.starts = np.cumsum([0] + [len(flat) for flat, _ in self.lattices])
        if maps is None:  # from the patches themselves
            everything = np.ones(self.starts[-1], dtype=bool)
            parts = [_texture_and_margin(block, self.offset) for block in self._blocks(everything)]
        else:
            parts = [(t.ravel()[f], m.ravel()[f]) for (t, m), (f, _) in zip(maps, self.lattices, strict=True)]
        self.texture = np.concatenate([texture for texture, _ in parts])
        self.margin = np.concatenate([margin for _, margin in parts])
        self.bins = bins
        self._kept: dict[str, tuple[np.ndarray, tuple[np.ndarray, ...]]] = {}
        self._unclipping: float | None = None  # the last σ over √(measured variance), a guess for the next

    def _additive(
        self, name: str, selected: np.ndarray, compute: Callable[[np.ndarray], tuple[np.ndarray, ...]]
    ) -> tuple[np.ndarray, ...]:
        """``compute(selected)`` for statistics that are sums over the patches, updated from their
        value for the previous selection by the patches that joined or left it when those are
        fewer than it (the iteration's selections differ by a few per cent after the first)."""
        kept = self._kept.get(name)
        if kept is not None:
            previous, value = kept
            joined, left = selected & ~previous, previous & ~selected
            if int(joined.sum()) + int(left.sum()) < int(selected.sum()):
                value = tuple(v + j - out for v, j, out in zip(value, compute(joined), compute(left), strict=True))
                self._kept[name] = (selected.copy(), value)
                return value
        value = compute(selected)
        self._kept[name] = (selected.copy(), value)
        return value

    def _block_indices(self, selected: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per block of selected patches (a mask over the lattices of all the stacks): the
        stack's windows and the rows and columns of its patches. A stack's selected patches are
        cut into an even number of blocks of equal size, at most :data:`_BLOCK_ROWS` (two
        threads then share them evenly; the cut does not depend on how many there are)."""
        for windows, (rows, cols), start in zip(self.windows, self.cells, self.starts[:-1], strict=True):
            mine = np.flatnonzero(selected[start : start + len(rows)])
            if not len(mine):
                continue
            blocks = -(-len(mine) // _BLOCK_ROWS)
            blocks += blocks % 2 if len(mine) > _INLINE_ROWS else 0
            for chosen in np.array_split(mine, blocks):
                yield windows, rows[chosen], cols[chosen]

    def _blocks(self, selected: np.ndarray) -> Iterator[np.ndarray]:
        """The selected patches (a mask over the lattices of all the stacks), less the offset, in
        float32 blocks ``(m, s, s, c)`` of at most :data:`_BLOCK_ROWS`, C-contiguous. Gathered
        when asked for, so that only the patches used are ever copied."""
        for windows, rows, cols in self._block_indices(selected):
            yield windows[rows, cols]

    def _sums(self, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ x and Σ x·xᵀ over the selected patches x: float64 ``(d,)`` and ``(d, d)``, the
        products of float32 blocks of :data:`_BLOCK_ROWS` patches summed in float64.

        The products are numpy's ``xᵀ·x``, which its BLAS takes as a symmetric rank-k update
        (``syrk``, half the work of torch's general product: 2.7 against 4.9 ms for 8192 patches
        of 147 samples, one thread); its threads are held to one (:class:`_OneBlasThread`)."""

        def sums_of(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return _column_sums(block), (block.T @ block).astype(np.float64)

        def block_sums(job: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            windows, rows, cols = job
            return sums_of(windows[rows, cols].reshape(len(rows), self.dim))  # gathered here, on the worker

        jobs = list(self._block_indices(selected))
        if not jobs:
            return np.zeros(self.dim), np.zeros((self.dim, self.dim))
        if sum(len(rows) for _, rows, _ in jobs) <= _INLINE_ROWS:
            # a few patches (the iteration's changes): one block of all the stacks' patches,
            # multiplied on this thread
            return sums_of(
                np.concatenate([windows[rows, cols].reshape(len(rows), self.dim) for windows, rows, cols in jobs])
            )
        # the blocks' sums are added in the blocks' order whoever computed them: the same result
        # on any number of threads
        parts = self.pool.map(block_sums, jobs) if self.pool is not None and len(jobs) > 1 else map(block_sums, jobs)
        total, products = np.zeros(self.dim), np.zeros((self.dim, self.dim))
        for block_total, block_products in parts:
            total += block_total
            products += block_products
        return total, products

    def variance(self, selected: np.ndarray) -> float:
        """The noise variance of the selected patches (0–1 scale, as measured: clipping not undone)."""
        count = int(selected.sum())
        total, products = self._additive("sums", selected, self._sums)
        mean = total / count
        covariance = (products - count * np.outer(mean, mean)) / (count - 1)
        return _noise_variance(np.linalg.eigvalsh(covariance), count)

    def _level_counts(self, selected: np.ndarray) -> tuple[np.ndarray]:
        """How many samples of the selected patches lie in each local-level bin, each sample
        counted once per selected patch that holds it: for a few patches (the iteration's
        changes) from their own windows, else from the whole stack weighted by how many selected
        patches hold each pixel (a box sum of the selection)."""
        assert self.bins is not None
        counts = np.zeros(_HISTOGRAM_BINS)
        start = 0
        few = int(selected.sum()) * self.dim < sum(b.size for b in self.bins)
        for bins, (flat, grid) in zip(self.bins, self.lattices, strict=True):
            mine = flat[selected[start : start + len(flat)]]
            start += len(flat)
            if few:
                rows, cols = np.unravel_index(mine, grid)
                windows = sliding_window_view(bins, (self.side, self.side), axis=(0, 1))[rows, cols]
                counts += np.bincount(windows.ravel(), minlength=_HISTOGRAM_BINS)
                continue
            chosen = np.zeros(grid, dtype=np.float32)  # counts up to s², exact in float32 (and faster)
            chosen.ravel()[mine] = 1.0
            cover = _box_sum(np.pad(chosen, self.side - 1), self.side, self.side).astype(np.float64).ravel()
            for channel in range(bins.shape[2]):  # the same weights for each: not broadcast and copied
                counts += np.bincount(bins[:, :, channel].ravel(), weights=cover, minlength=_HISTOGRAM_BINS)
        return (counts,)

    def sigma(self, selected: np.ndarray) -> float:
        """σ (0–1 scale) of the selected patches, clipping undone on a clipped image."""
        # the level histogram does not depend on the variance: made meanwhile on the pool's threads
        histogram = None
        if self.clipped:
            histogram = _submit(self.pool, partial(self._additive, "levels", selected, self._level_counts))
        measured = self.variance(selected)
        if histogram is None:
            return math.sqrt(max(measured, 0.0))
        (counts,) = histogram.result()  # waited for even when unused: the next call updates it
        if measured <= 0:
            return 0.0
        levels = (np.arange(_HISTOGRAM_BINS) + 0.5) / _HISTOGRAM_BINS
        floor = math.sqrt(measured)
        guess = None if self._unclipping is None else self._unclipping * floor
        sigma = _unclipped_sigma(measured, levels, counts / counts.sum(), guess)
        self._unclipping = sigma / floor
        return sigma

    def enough(self, selected: np.ndarray) -> bool:
        return int(selected.sum()) >= MIN_PATCHES_PER_DIM * self.dim

    def estimate(self, start: float | None = None) -> float:
        """σ (0–1 scale) by the iteration of the module docstring, from ``start`` (0–1 scale)
        or, without it, from the estimate of all the patches of a sparser lattice (every k-th
        patch, at most :data:`START_PATCHES`; see step 4 of the module docstring)."""
        if start is None:
            every = np.zeros(self.starts[-1], dtype=bool)
            every[:: math.ceil(len(every) / START_PATCHES)] = True
            start = math.sqrt(max(self.variance(every), 0.0))
        sigma = start
        history: list[tuple[np.ndarray, float]] = []  # the last two iterations' selections and σ
        for iteration in range(MAX_ITERATIONS):
            selected = self.texture < self.threshold * sigma**2
            if self.clipped:  # near a bound the noise is clipped: those patches would pull σ down
                selected &= self.margin > CLIP_MARGIN * sigma + 0.5 / 255
            if not self.enough(selected):
                break
            if len(history) >= 2 and np.array_equal(selected, history[-2][0]):
                # a 2-cycle: from here σ alternates between the last two values for good, so the
                # value the last iteration would reach is known without running the rest
                return history[-2][1] if (MAX_ITERATIONS - 1 - iteration) % 2 == 0 else history[-1][1]
            previous, sigma = sigma, self.sigma(selected)
            history = [*history[-1:], (selected, sigma)]
            if abs(sigma - previous) <= _RELATIVE_TOLERANCE * previous:
                break
        return sigma
