"""The physics of non-blind deblurring: a known blur seen through a window of a larger scene.

Model. The observation ``y`` (``C × H × W``) is the *valid* part of the convolution of an unknown
scene ``x`` with a known kernel ``k``, plus noise: ``y = M (k ⊛ x) + n``. The scene lives on an
extended periodic grid (``C × Hp × Wp``, the window ``M`` at offset ``(pad, pad)``), on which
``k ⊛`` is a circular convolution — exact for the window's pixels as long as ``pad`` is at least
the kernel's radius, because then no wrapped-around sample reaches the window. Convolution
follows :func:`tunecli.degradations.blur.blur` and ``scipy.ndimage.convolve``: the kernel's
centre is its sample ``(kh // 2, kw // 2)`` and ``out[y, x] = Σ k[i, j] · img[y − i + kh//2,
x − j + kw//2]`` (the kernel is flipped; :meth:`BlurOperator.adjoint` correlates).

Data step. The proximal step of ``½‖k ⊛ x − ỹ‖²`` on the periodic grid is exact by FFT
(:meth:`BlurOperator.prox`). The windowed fidelity ``½‖M(k ⊛ x) − y‖²`` is not diagonal in
Fourier: its proximal step solves ``(KᵀMK + ρ) x = KᵀMy + ρz``, whose matrix differs from the
periodic one ``KᵀK + ρ`` only by the unobserved samples. :meth:`BlurOperator.data_step`
starts from the periodic solution with those samples of ``y`` filled by ``k ⊛ z`` (a
majorize–minimize step: never worse than ``z`` for the windowed objective) and refines it by
conjugate gradients preconditioned with the periodic solution (:data:`DATA_STEP_ITERATIONS`
steps). Without the refinement the unknown surroundings cost 2–4 dB within a kernel's width of
the borders and 0.6–1 dB over a 256-px crop (``bench/deblur_baselines.py``'s inputs,
``--boundary valid``); with it, the borders come within 1–3 dB of the interior. The first estimate is
:meth:`BlurOperator.extend`: the window mirrored outwards and tapered, across the band outside
it, into a circularly smoothed copy, so that the periodic grid has no seam where the image's
opposite borders meet. That is what keeps real photos free of border ringing; a ``pad`` of 0
instead declares the image itself periodic (synthetic circular blur): the periodic solution is
then the exact step.

All tensors are float32 on the CPU (complex64 spectra); channels are processed one at a time to
bound memory (a 24 MP photo: a few arrays of one channel, 100 MB each). The conjugate gradients
run on half spectra, so that each of their steps takes one transform each way.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tunecli.errors import UsageError

#: The smoothed copy the extension tapers into: a circular Gaussian of σ = pad · this factor.
TAPER_SMOOTHING = 0.5
#: Conjugate-gradient steps of each data step: 12 / 25 / 50 steps gave 33.57 / 33.80 / 33.88 dB
#: at σ 2.55 (without them: 31.35) and 25 steps no more than 12 at σ 7.65 (a calibration run:
#: 2 Levin kernels, 3 photos outside the benchmark's, 256-px crops).
DATA_STEP_ITERATIONS = 20
#: Grid sides are multiples of this, so that a network's size multiple (8 or 16) needs no
#: padded copy of the grid in the tiling engine.
GRID_MULTIPLE = 16


def fast_length(n: int, multiple: int = 1) -> int:
    """The smallest length ≥ ``n``, a multiple of ``multiple``, whose prime factors are 2, 3
    and 5 (fast FFT sizes)."""
    length = -(-max(n, 1) // multiple) * multiple
    while True:
        rest = length
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return length
        length += multiple


def kernel_spectrum(kernels: Tensor, grid: tuple[int, int]) -> Tensor:
    """The half spectra (``rfft2``) of ``kernels`` float32 ``(..., kh, kw)`` placed on a periodic
    ``grid`` ``(Hp, Wp)`` with each kernel's centre ``(kh // 2, kw // 2)`` on sample (0, 0), so
    that a product with an image's spectrum is the convolution of :mod:`this module
    <tunecli.pnp.physics>`: complex64 ``(..., Hp, Wp // 2 + 1)`` on the kernels' device."""
    kh, kw = kernels.shape[-2:]
    placed = kernels.new_zeros((*kernels.shape[:-2], *grid))
    placed[..., :kh, :kw] = kernels
    placed = torch.roll(placed, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.rfft2(placed)


def periodic_prox(spectrum: Tensor, power: Tensor, z: Tensor, target: Tensor, rho: float | Tensor) -> Tensor:
    """``argmin_x ½‖k ⊛ x − target‖² + (ρ/2)‖x − z‖²`` on the periodic grid, exactly:
    ``F⁻¹[(K̄·F(target) + ρ·F(z)) / (|K|² + ρ)]``, for ``spectrum`` = K (:func:`kernel_spectrum`)
    and ``power`` = |K|². ``z``, ``target``: float ``(..., Hp, Wp)``; the spectra and ``rho``
    (> 0, a number or a tensor) broadcast against their half spectra, so one call can solve a
    batch of images, each with its own kernel and weight (differentiable: the unrolled training
    of :mod:`tunecli.pnp.unrolled` back-propagates through it)."""
    numerator = spectrum.conj() * torch.fft.rfft2(target) + rho * torch.fft.rfft2(z)
    return torch.fft.irfft2(numerator / (power + rho), s=tuple(z.shape[-2:]))


class BlurOperator:
    """Convolution by a known ``kernel`` seen through an ``height`` × ``width`` window.

    ``kernel``: a 2-D non-negative array with a positive finite sum (as
    :func:`tunecli.degradations.kernel_files.read_kernels` gives, normalised to sum 1), of any
    size, even sides included; ``pad``: width of the unobserved band around the window (default:
    the kernel's larger side, twice the least that makes the model exact, so the taper has room;
    0: the image is periodic). The grid is ``(height + 2·pad, width + 2·pad)`` rounded up to fast
    FFT lengths that are multiples of :data:`GRID_MULTIPLE`, the extra rows/columns going
    below/right. Raises :class:`UsageError` for a bad kernel or a pad narrower than the
    kernel's radius.
    """

    def __init__(self, kernel: np.ndarray | Tensor, height: int, width: int, pad: int | None = None) -> None:
        weights = torch.as_tensor(np.asarray(kernel, dtype=np.float32))
        if weights.ndim != 2 or weights.numel() == 0:
            raise UsageError(f"a blur kernel must be a non-empty 2-D array, got shape {tuple(weights.shape)}")
        total = float(weights.sum())
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()) or not total > 0:
            raise UsageError("a blur kernel must be finite, non-negative and have a positive sum")
        kh, kw = weights.shape
        radius = max(kh // 2, kw // 2, kh - 1 - kh // 2, kw - 1 - kw // 2)
        self.pad = max(kh, kw) if pad is None else pad
        if self.pad != 0 and self.pad < radius:
            raise UsageError(f"pad {self.pad} is narrower than the {kh}x{kw} kernel's radius {radius}")
        if height < 1 or width < 1:
            raise UsageError(f"an image of {height}x{width} px has nothing to deblur")
        if self.pad == 0 and (kh > height or kw > width):
            raise UsageError(f"a periodic {height}x{width} image is smaller than the {kh}x{kw} kernel")
        self.kernel = weights
        self.window = (height, width)
        if self.pad == 0:
            self.grid = (height, width)
        else:
            self.grid = (
                fast_length(height + 2 * self.pad, GRID_MULTIPLE),
                fast_length(width + 2 * self.pad, GRID_MULTIPLE),
            )
        self.spectrum = kernel_spectrum(weights, self.grid)
        self.power = self.spectrum.abs().square()

    # ---- the operator ------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """``k ⊛ x`` on the periodic grid: ``x`` float32 ``(C, Hp, Wp)`` → the same shape."""
        return self._filter(x, self.spectrum)

    def adjoint(self, y: Tensor) -> Tensor:
        """The adjoint of :meth:`forward` (correlation with ``k``): ``(C, Hp, Wp)`` → same."""
        return self._filter(y, self.spectrum.conj())

    def observe(self, x: Tensor) -> Tensor:
        """What the camera records of the scene ``x`` ``(C, Hp, Wp)``: the window of ``k ⊛ x``,
        ``(C, H, W)`` (noise-free)."""
        return self.crop(self.forward(x))

    def prox(self, z: Tensor, target: Tensor, rho: float, out: Tensor | None = None) -> Tensor:
        """``argmin_x ½‖k ⊛ x − target‖² + (ρ/2)‖x − z‖²`` on the periodic grid, exactly:
        ``F⁻¹[(K̄·F(target) + ρ·F(z)) / (|K|² + ρ)]``. ``z``, ``target``: ``(C, Hp, Wp)``;
        ``rho`` > 0; ``out``: where to write it (``target`` itself may be given)."""
        if not rho > 0:
            raise UsageError(f"the data step needs a positive rho, not {rho}")
        out = torch.empty_like(z) if out is None else out
        for c in range(z.shape[0]):  # a channel at a time: the memory bound
            out[c] = periodic_prox(self.spectrum, self.power, z[c], target[c], rho)
        return out

    def data_step(self, z: Tensor, observed: Tensor, rho: float, iterations: int = DATA_STEP_ITERATIONS) -> Tensor:
        """The proximal step of the windowed fidelity, ``argmin_x ½‖M(k ⊛ x) − observed‖² +
        (ρ/2)‖x − z‖²`` (see the module docstring): the periodic solution with the unobserved
        samples filled by ``k ⊛ z``, then ``iterations`` preconditioned conjugate-gradient steps
        (0: that start alone), a channel at a time. ``z``: ``(C, Hp, Wp)``; ``observed``:
        ``(C, H, W)``; returns ``(C, Hp, Wp)``.

        The iterates live in Fourier (half spectra of ``rfft2``), where the preconditioner is a
        product and the inner products are sums (Parseval), so that a step costs two transforms —
        the blur seen through the window, ``M·F⁻¹(K·v)``, and back — where it took six (the step
        took 40–45 % of its former time, the two versions run in turn on one machine)."""
        if not rho > 0:
            raise UsageError(f"the data step needs a positive rho, not {rho}")
        if not self.pad:  # the window is the grid: the periodic solution is exact
            return self.prox(z, observed, rho)
        top, left = self._offset()
        height, width = self.window
        window = (slice(top, top + height), slice(left, left + width))
        inverse = 1 / (self.power + rho)  # (KᵀK + ρ)⁻¹, diagonal in Fourier: the preconditioner
        spectrum, adjoint = self.spectrum, self.spectrum.conj().resolve_conj()
        size, last = self.grid[0] * self.grid[1], self.grid[1] // 2
        out = torch.empty_like(z)

        def dot(a: Tensor, b: Tensor) -> float:
            """<F⁻¹a, F⁻¹b> of two real planes from their half spectra (Parseval): every column
            stands for itself and its mirrored twin but column 0 and, Wp being even, the last."""
            twice = torch.vdot(a.flatten(), b.flatten()).real
            once = torch.vdot(a[:, 0], b[:, 0]).real + torch.vdot(a[:, last], b[:, last]).real
            return float(2 * twice - once) / size

        def normal(v: Tensor) -> Tensor:  # (KᵀMK + ρ) v, in Fourier, in a new tensor
            seen = torch.fft.irfft2(spectrum * v, s=self.grid)
            self._zero_outside(seen)
            return torch.fft.rfft2(seen).mul_(adjoint).add_(v, alpha=rho)

        for c in range(z.shape[0]):
            z_hat = torch.fft.rfft2(z[c])
            plane = torch.fft.irfft2(spectrum * z_hat, s=self.grid)  # k ⊛ z fills the unobserved samples
            plane[window] = observed[c]
            x_hat = torch.fft.rfft2(plane).mul_(adjoint).add_(z_hat, alpha=rho).mul_(inverse)
            if iterations:
                self._zero_outside(plane)  # Mᵀy
                residual = torch.fft.rfft2(plane).mul_(adjoint).add_(z_hat, alpha=rho)
                del plane, z_hat
                residual -= normal(x_hat)
                step = residual * inverse
                direction = step.clone()
                product = dot(residual, step)
                for _ in range(iterations):
                    curved = normal(direction)
                    curvature = dot(direction, curved)
                    if not (product > 0 and curvature > 0):
                        break
                    length = product / curvature
                    x_hat.add_(direction, alpha=length)
                    residual.sub_(curved, alpha=length)
                    del curved
                    torch.mul(residual, inverse, out=step)
                    updated = dot(residual, step)
                    direction.mul_(updated / product).add_(step)
                    product = updated
                del residual, step, direction
            out[c] = torch.fft.irfft2(x_hat, s=self.grid)
        return out

    def _zero_outside(self, plane: Tensor) -> None:
        """Set the samples of ``plane`` ``(Hp, Wp)`` outside the window to 0, in place (M·)."""
        top, left = self._offset()
        height, width = self.window
        plane[:top] = 0
        plane[top + height :] = 0
        plane[top : top + height, :left] = 0
        plane[top : top + height, left + width :] = 0

    # ---- the window ----------------------------------------------------------------------
    def crop(self, x: Tensor) -> Tensor:
        """The window ``(C, H, W)`` of a grid tensor ``(C, Hp, Wp)``."""
        top, left = self._offset()
        height, width = self.window
        return x[:, top : top + height, left : left + width]

    def extend(self, observed: Tensor) -> Tensor:
        """A first estimate on the grid for the window ``observed`` ``(C, H, W)``: mirrored
        outwards (edge-replicated where the band is wider than the image), then blended with a
        cosine weight, from 1 at the window to 0 in the middle of the band, into a circular
        Gaussian smoothing of itself (σ = :data:`TAPER_SMOOTHING` · pad): continuous across the
        seam where the band wraps around. ``(C, Hp, Wp)``."""
        if not self.pad:
            return observed.clone()
        height, width = self.window
        grid_h, grid_w = self.grid
        pads = (self.pad, grid_w - width - self.pad, self.pad, grid_h - height - self.pad)
        mode = "reflect" if max(pads[0], pads[1]) < width and max(pads[2], pads[3]) < height else "replicate"
        extended = F.pad(observed[None], pads, mode=mode)[0]
        gaussian = self._gaussian_spectrum(TAPER_SMOOTHING * self.pad)
        outside = 1 - self._window_weight(grid_h, height)[:, None] * self._window_weight(grid_w, width)[None, :]
        for c in range(extended.shape[0]):  # in place, a channel at a time: weight·e + (1 − weight)·smooth
            smooth = torch.fft.irfft2(torch.fft.rfft2(extended[c]) * gaussian, s=self.grid)
            extended[c] += outside * (smooth - extended[c])
        return extended

    # ---- internals -----------------------------------------------------------------------
    def _offset(self) -> tuple[int, int]:
        return (self.pad, self.pad)

    def _filter(self, x: Tensor, spectrum: Tensor) -> Tensor:
        out = torch.empty_like(x)
        for c in range(x.shape[0]):
            out[c] = self._filter_plane(x[c], spectrum)
        return out

    def _filter_plane(self, plane: Tensor, spectrum: Tensor) -> Tensor:
        """One ``(Hp, Wp)`` plane multiplied by ``spectrum`` in Fourier (a circular filter)."""
        return torch.fft.irfft2(torch.fft.rfft2(plane) * spectrum, s=self.grid)

    def _gaussian_spectrum(self, sigma: float) -> Tensor:
        """rfft2 of a circular Gaussian of ``sigma`` px on the grid (its transform, sampled)."""
        fy = torch.fft.fftfreq(self.grid[0])[:, None]
        fx = torch.fft.rfftfreq(self.grid[1])[None, :]
        return torch.exp(-2 * (math.pi * sigma) ** 2 * (fy**2 + fx**2)).to(torch.complex64)

    def _window_weight(self, length: int, inside: int) -> Tensor:
        """1 on the window's ``inside`` samples (from offset pad), a cosine down to 0 at the
        middle of the band outside it (periodic), along one axis of ``length``."""
        band = length - inside
        position = torch.arange(length, dtype=torch.float32)
        # distance (along the periodic axis) from the window, and the band's half width
        start, end = self.pad, self.pad + inside - 1
        after = (position - end).remainder(length)
        before = (start - position).remainder(length)
        distance = torch.minimum(after, before)
        distance[start : end + 1] = 0
        half = band / 2 + 0.5
        return 0.5 * (1 + torch.cos(math.pi * torch.clamp(distance / half, max=1.0)))
