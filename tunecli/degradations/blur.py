"""Seeded random blur kernels for the deblur task, and per-sample blurring of a batch.

The deblur task's alpha axis ``blur`` in [0, 1] is the *strength* ``s`` of the blur the model
undoes. A kernel of strength ``s`` is one of three kinds, drawn with equal probability:

- **gaussian** — isotropic Gaussian of σ(s);
- **anisotropic** — Gaussian with major σ(s), minor ``max(0.3, ρ·σ(s))`` with ρ ~ U(0.2, 1), at a
  random angle θ ~ U(0, π);
- **motion** — camera shake: a trajectory of arc length L(s) whose heading turns with momentum
  (turn rate ω_t = 0.8·ω_{t-1} + τ·ε_t, ε_t ~ N(0, 1), τ ~ U(0, 0.12) rad per step, 32 steps),
  sampled every ≤ 0.25 px along its length, splatted bilinearly (sub-pixel), re-centred on its
  centroid and smoothed by a Gaussian of σ_s(s).

========  ===========  ====================  ============  ===========  =======
strength  σ(s) (px)    anisotropic σ (px)    L(s) (px)     σ_s(s) (px)  K(s)
========  ===========  ====================  ============  ===========  =======
0         0.3          0.3 × 0.3             0 (a point)   0.3          7
0.25      1.225        1.225 × 0.3–1.225     6.25          0.375        15
0.5       2.15         2.15 × 0.43–2.15      12.5          0.45         21
0.75      3.075        3.075 × 0.615–3.075   18.75         0.525        27
1         4.0          4.0 × 0.8–4.0         25            0.6          33
========  ===========  ====================  ============  ===========  =======

with σ(s) = 0.3 + 3.7·s, L(s) = 25·s, σ_s(s) = 0.3 + 0.3·s and the default (smallest) kernel size
K(s) = 2·⌈max(3·σ(s), L(s)/2 + 3)⌉ + 1, which holds the whole motion trajectory (no point of a
path of length L lies farther than L/2 from its centroid) and 3σ of the Gaussians. At strength 0
every kind is (nearly) the identity: a σ = 0.3 px Gaussian puts 0.4 % of the mass on each
4-neighbour. Size and spread grow monotonically with strength.

Kernels are float32 ``(K, K)``, K odd, non-negative, summing to 1, with their centre of mass on
the centre pixel (exactly for Gaussians and, up to float rounding, for motion kernels), so
blurring does not shift the image. Randomness comes only from the caller's CPU
:class:`torch.Generator`: the same seed gives the same kernels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tunecli.errors import UsageError

SIGMA_MIN = 0.3
SIGMA_MAX = 4.0
MOTION_LENGTH_MAX = 25.0
KINDS = ("gaussian", "anisotropic", "motion")
BOUNDARIES = ("reflect", "circular")

_MINOR_RATIO_MIN = 0.2
_SMOOTH_SIGMA_GAIN = 0.3
_MOTION_STEPS = 32
_TURN_MOMENTUM = 0.8
_TURN_RATE_MAX = 0.12
_SPLAT_SPACING = 0.25


def sigma_of_strength(strength: float) -> float:
    """Gaussian σ in px (major σ for anisotropic kernels) at ``strength`` in [0, 1]."""
    return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * strength


def motion_length(strength: float) -> float:
    """Arc length in px of a motion kernel's trajectory at ``strength`` in [0, 1]."""
    return MOTION_LENGTH_MAX * strength


def default_kernel_size(strength: float) -> int:
    """The smallest odd size K that holds every kernel of ``strength`` untruncated (see the table)."""
    _check_strength(strength)
    half = max(3.0 * sigma_of_strength(strength), motion_length(strength) / 2 + 3.0)
    return 2 * math.ceil(half) + 1


def random_kernel(
    strength: float, generator: torch.Generator, size: int | None = None, kind: str | None = None
) -> Tensor:
    """A random blur kernel of ``strength`` in [0, 1] (``kind`` one of :data:`KINDS`, None: drawn
    at random; see the module doc).

    ``generator``: a CPU :class:`torch.Generator`, the only source of randomness. ``size``: odd
    kernel size, at least :func:`default_kernel_size` (the kernel is zero-padded about its centre;
    smaller would truncate it and change its strength); None means that smallest size.
    Returns a float32 CPU tensor ``(size, size)``, non-negative, summing to 1, centred.
    """
    natural = default_kernel_size(strength)
    size = _check_size(size, natural, strength)
    _check_generator(generator)
    if kind is None:
        kind = KINDS[int(torch.randint(len(KINDS), (1,), generator=generator))]
    elif kind not in KINDS:
        raise UsageError(f"kernel kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "gaussian":
        sigma = sigma_of_strength(strength)
        kernel = _gaussian(natural, sigma, sigma, 0.0)
    elif kind == "anisotropic":
        major = sigma_of_strength(strength)
        ratio = _MINOR_RATIO_MIN + (1.0 - _MINOR_RATIO_MIN) * _uniform(generator)
        kernel = _gaussian(natural, major, max(SIGMA_MIN, ratio * major), math.pi * _uniform(generator))
    else:
        kernel = _motion(natural, strength, generator)
    pad = (size - natural) // 2
    kernel = F.pad(kernel, (pad, pad, pad, pad))
    return (kernel / kernel.sum()).to(torch.float32)


def kernel_batch(strengths: Tensor, generator: torch.Generator, size: int | None = None) -> Tensor:
    """One random kernel per strength, all of one size so a batch can be blurred at once.

    ``strengths``: ``(B,)`` in [0, 1]; ``size``: odd, at least :func:`default_kernel_size` of the
    largest strength (None: exactly that). Returns float32 ``(B, size, size)``, each kernel as
    :func:`random_kernel` makes it (centred, zero-padded).
    """
    if not isinstance(strengths, Tensor) or strengths.ndim != 1:
        raise UsageError(f"kernel_batch needs a 1-D tensor of strengths, got {_describe(strengths)}")
    values = [float(s) for s in strengths.detach().cpu()]
    for value in values:
        _check_strength(value)
    if size is None:
        size = default_kernel_size(max(values, default=0.0))
    if not values:
        _check_size(size, default_kernel_size(0.0), 0.0)
        return torch.zeros(0, size, size)
    return torch.stack([random_kernel(value, generator, size) for value in values])


def blur(images: Tensor, kernels: Tensor, boundary: str = "reflect") -> Tensor:
    """Blur each image of a batch with its own kernel (true convolution: the kernel is flipped).

    ``images``: float ``(B, C, H, W)``; ``kernels``: ``(B, K, K)``, K odd, centre at ``K // 2``
    (moved to the images' dtype and device). ``out[b, c, y, x] = Σ_ij kernels[b, i, j] ·
    images[b, c, y - i + K//2, x - j + K//2]``, as ``scipy.ndimage.convolve``. ``boundary``:
    ``"reflect"`` mirrors about the edge pixel without repeating it (scipy's ``mode="mirror"``;
    needs ``K // 2 < H, W``) or ``"circular"`` wraps around (scipy's ``"wrap"``; ``K // 2 <= H, W``).
    Returns a tensor like ``images``.
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise UsageError(f"blur needs float images (B, C, H, W), got {_describe(images)}")
    if not isinstance(kernels, Tensor) or kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
        raise UsageError(f"blur needs square kernels (B, K, K), got {_describe(kernels)}")
    b, c, h, w = images.shape
    k = kernels.shape[-1]
    if kernels.shape[0] != b:
        raise UsageError(f"blur needs one kernel per image: {b} images, {kernels.shape[0]} kernels")
    if k % 2 == 0:
        raise UsageError(f"blur needs an odd kernel size, got {k}")
    if boundary not in BOUNDARIES:
        raise UsageError(f"boundary must be one of {', '.join(BOUNDARIES)}; got {boundary!r}")
    r = k // 2
    if (boundary == "reflect" and r >= min(h, w)) or r > min(h, w):
        raise UsageError(f"images of {h}x{w} are too small for {k}x{k} kernels with {boundary} padding")
    if b == 0 or c == 0:
        return images.clone()
    padded = F.pad(images.reshape(1, b * c, h, w), (r, r, r, r), mode=boundary)
    # conv2d correlates; flipping the kernel makes it a convolution.
    weight = kernels.to(images).flip(-2, -1).repeat_interleave(c, dim=0).unsqueeze(1)
    return F.conv2d(padded, weight, groups=b * c).reshape(b, c, h, w)


def kernel_spread(kernel: Tensor | np.ndarray) -> float:
    """Root of the second moment about the centroid, in px: ``sqrt(Σ w·|p − μ|² / Σ w)``.

    ``kernel``: 2-D, non-negative with a positive sum (a Tensor or a numpy array). A delta has
    spread 0; a continuous isotropic Gaussian of σ has spread √2·σ.
    """
    if isinstance(kernel, Tensor):
        weights = kernel.detach().cpu().to(torch.float64)
    else:
        weights = torch.from_numpy(np.asarray(kernel, dtype=np.float64))
    if weights.ndim != 2:
        raise UsageError(f"kernel_spread needs a 2-D kernel, got shape {tuple(weights.shape)}")
    total = float(weights.sum())
    if not total > 0:
        raise UsageError("kernel_spread needs a kernel with a positive sum")
    rows = torch.arange(weights.shape[0], dtype=torch.float64)[:, None]
    cols = torch.arange(weights.shape[1], dtype=torch.float64)[None, :]
    mean_row = float((weights * rows).sum()) / total
    mean_col = float((weights * cols).sum()) / total
    second = float((weights * ((rows - mean_row) ** 2 + (cols - mean_col) ** 2)).sum()) / total
    return math.sqrt(max(second, 0.0))


def _gaussian(size: int, sigma_major: float, sigma_minor: float, angle: float) -> Tensor:
    """Gaussian density sampled at the pixel centres of a ``size``² grid centred on its middle
    pixel (float64, unnormalised); the major axis at ``angle`` radians from the column axis."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    u = math.cos(angle) * x + math.sin(angle) * y
    v = -math.sin(angle) * x + math.cos(angle) * y
    return torch.exp(-0.5 * ((u / sigma_major) ** 2 + (v / sigma_minor) ** 2))


def _motion(size: int, strength: float, generator: torch.Generator) -> Tensor:
    """Camera-shake kernel on a ``size``² canvas (float64, unnormalised): see the module doc."""
    length = motion_length(strength)
    heading = 2 * math.pi * _uniform(generator)
    turn_scale = _TURN_RATE_MAX * _uniform(generator)
    noise = torch.randn(_MOTION_STEPS, generator=generator, dtype=torch.float64)
    turn = torch.zeros(_MOTION_STEPS, dtype=torch.float64)
    for t in range(_MOTION_STEPS):
        previous = turn[t - 1] if t > 0 else 0.0
        turn[t] = _TURN_MOMENTUM * previous + turn_scale * noise[t]
    headings = heading + torch.cumsum(turn, 0)
    steps = torch.stack([torch.sin(headings), torch.cos(headings)], 1) * (length / _MOTION_STEPS)
    vertices = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.cumsum(steps, 0)])
    # Equal-length segments: points evenly spaced in the vertex index are evenly spaced along the
    # arc, so the trajectory gets uniform mass per unit length.
    count = math.ceil(length / _SPLAT_SPACING) + 2
    position = torch.linspace(0, _MOTION_STEPS, count, dtype=torch.float64)
    index = position.floor().long().clamp(max=_MOTION_STEPS - 1)
    frac = (position - index)[:, None]
    points = vertices[index] + frac * (vertices[index + 1] - vertices[index])
    points = points - points.mean(0) + size // 2
    canvas = _splat(points, size)
    return _smooth(canvas, SIGMA_MIN + _SMOOTH_SIGMA_GAIN * strength)


def _splat(points: Tensor, size: int) -> Tensor:
    """Bilinear splatting of unit masses at ``points`` ``(N, 2)`` (row, col) onto a ``size``²
    canvas; it keeps the centroid. All points lie within [0, size - 1) by construction."""
    base = points.floor()
    frac = points - base
    base = base.long()
    canvas = torch.zeros(size, size, dtype=torch.float64)
    for dr in (0, 1):
        for dc in (0, 1):
            weight = (frac[:, 0] if dr else 1 - frac[:, 0]) * (frac[:, 1] if dc else 1 - frac[:, 1])
            canvas.index_put_((base[:, 0] + dr, base[:, 1] + dc), weight, accumulate=True)
    return canvas


def _smooth(canvas: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian smoothing of a 2-D float64 canvas (zero padding, same size)."""
    radius = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    taps = taps / taps.sum()
    x = F.conv2d(canvas[None, None], taps.view(1, 1, -1, 1), padding=(radius, 0))
    return F.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius))[0, 0]


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand(1, generator=generator, dtype=torch.float64))


def _check_strength(strength: float) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating)) or not 0.0 <= strength <= 1.0:
        raise UsageError(f"blur strength must be a number in [0, 1], got {strength!r}")


def _check_size(size: int | None, natural: int, strength: float) -> int:
    if size is None:
        return natural
    if isinstance(size, bool) or not isinstance(size, int) or size % 2 == 0:
        raise UsageError(f"kernel size must be an odd integer, got {size!r}")
    if size < natural:
        raise UsageError(
            f"kernel size {size} is too small for blur strength {strength:g}: use at least {natural} "
            "(a smaller kernel would be truncated)"
        )
    return size


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise UsageError("random kernels need a CPU torch.Generator (torch.Generator().manual_seed(seed))")


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__}"
