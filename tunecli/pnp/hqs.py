"""The algorithm: half-quadratic splitting (HQS) with a plug-in denoiser, as in IRCNN/DPIR.

For ``min_x ½‖M(k ⊛ x) − y‖² / σn² + Φ(x)`` HQS splits ``x`` into ``x`` and ``z`` tied by a
penalty that tightens over the iterations, and alternates

1. the data step ``x_i = argmin_x ½‖M(k ⊛ x) − y‖² + (ρ_i/2)‖x − z_{i−1}‖²`` (the FFT
   solution of the periodic problem refined by conjugate gradients for the window:
   :meth:`tunecli.pnp.physics.BlurOperator.data_step`), and
2. the prior step ``z_i = D(x_i, σ_i)``: a denoiser at the noise level σ_i
   (:class:`tunecli.pnp.prior.Prior`),

starting from ``z_0`` = the observation extended to the grid, and returns the last ``z``.
The schedule (:func:`dpir_schedule`) is DPIR's: σ_i falls geometrically from
:data:`SIGMA_START` = 49 to an end level, and ``ρ_i = λ·σn²/σ_i²`` (the ratio of the data term's
weight to the prior's), with DPIR's λ = 0.23 and :data:`ITERATIONS` = 8 iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tunecli.errors import UsageError
from tunecli.pnp.physics import BlurOperator
from tunecli.pnp.prior import Prior

#: DPIR's defaults for deblurring: 8 iterations, σ from 49 down, λ = 0.23.
ITERATIONS = 8
SIGMA_START = 49.0
LAMBDA = 0.23
#: The noise level of the data weight never goes below this (0–255): DPIR's 0.255, so that a
#: noise-free image still gets a finite, tiny ρ.
NOISE_FLOOR = 0.255


@dataclass(frozen=True)
class Schedule:
    """Per iteration, the prior's noise level ``sigmas[i]`` (0–255) and the data step's weight
    ``rhos[i]`` (> 0) of the proximal term; both of the same length, the iteration count."""

    sigmas: tuple[float, ...]
    rhos: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.sigmas) != len(self.rhos) or not self.sigmas:
            raise UsageError(f"a schedule needs as many rhos as sigmas, at least one: {self}")
        if not all(s > 0 for s in self.sigmas) or not all(r > 0 for r in self.rhos):
            raise UsageError(f"a schedule's sigmas and rhos must be positive: {self}")


def dpir_schedule(
    noise_sigma: float,
    end_sigma: float | None = None,
    lam: float = LAMBDA,
    iterations: int = ITERATIONS,
    start_sigma: float = SIGMA_START,
) -> Schedule:
    """DPIR's schedule for a noise level ``noise_sigma`` (0–255): σ_i geometric from
    ``start_sigma`` to ``end_sigma`` (default: ``noise_sigma``) over ``iterations`` steps, and
    ``ρ_i = lam · max(noise_sigma, NOISE_FLOOR)² / σ_i²``. An end above the start gives a
    constant σ = ``end_sigma``. Raises :class:`UsageError` for non-positive values."""
    if iterations < 1:
        raise UsageError(f"HQS needs at least one iteration, not {iterations}")
    if not noise_sigma >= 0 or not lam > 0:
        raise UsageError(f"HQS needs a noise level >= 0 and lambda > 0, not {noise_sigma} and {lam}")
    end = max(noise_sigma, NOISE_FLOOR) if end_sigma is None else end_sigma
    if not end > 0:
        raise UsageError(f"the schedule's last sigma must be positive, not {end}")
    start = max(start_sigma, end)
    sigmas = np.geomspace(start, end, iterations) if iterations > 1 else np.array([end])
    data = max(noise_sigma, NOISE_FLOOR)
    return Schedule(tuple(float(s) for s in sigmas), tuple(float(lam * data**2 / s**2) for s in sigmas))


def dihedral(x: Tensor, index: int, inverse: bool = False) -> Tensor:
    """The ``index % 8``-th flip/rotation of ``x`` ``(C, H, W)`` (``index // 4`` odd: flipped
    left–right first, then ``index % 4`` quarter turns), or its inverse."""
    turns, flip = index % 4, (index // 4) % 2 == 1
    if not turns and not flip:
        return x
    if inverse:
        x = torch.rot90(x, -turns, dims=(1, 2))
        return x.flip(2) if flip else x
    x = x.flip(2) if flip else x
    return torch.rot90(x, turns, dims=(1, 2))


def hqs(
    observed: Tensor,
    physics: BlurOperator,
    prior: Prior,
    schedule: Schedule,
    on_iteration: Callable[[int, Tensor], None] | None = None,
    cycle_flips: bool = True,
) -> Tensor:
    """Restore ``observed`` float32 ``(C, H, W)`` (the window ``physics`` was built for, in
    [0, 1]) by HQS with ``prior`` along ``schedule``. Returns the estimate on the whole grid,
    float32 ``(C, Hp, Wp)`` (take :meth:`BlurOperator.crop` of it); ``on_iteration(i, z_i)``
    sees each grid estimate. The prior is called once per iteration, at ``schedule.sigmas[i]``
    on the grid estimate of the data step — with ``cycle_flips`` (DPIR's "x8"), turned by the
    i-th of the 8 flips/rotations (:func:`dihedral`) and back, so that the denoiser's own
    artefacts do not add up from one iteration to the next (at no extra cost)."""
    if observed.ndim != 3 or tuple(observed.shape[1:]) != physics.window:
        raise UsageError(f"the observation is {tuple(observed.shape)}; the blur operator's window is {physics.window}")
    z = physics.extend(observed)
    for i, (sigma, rho) in enumerate(zip(schedule.sigmas, schedule.rhos, strict=True)):
        # one grid-sized tensor (a 24 MP photo: 300 MB) at a time, beyond what the prior holds
        x = physics.data_step(z, observed, rho)
        del z
        if cycle_flips:
            x = dihedral(x, i)
        z = prior(x, sigma)
        del x
        if cycle_flips:
            z = dihedral(z, i, inverse=True)
        if on_iteration is not None:
            on_iteration(i, z)
    return z
