"""HQS unrolled for training: the prior learns what ``deblur --kernel`` will hand it.

:func:`tunecli.pnp.hqs.hqs` runs a fixed denoiser; here the same iterations run on a batch of
periodic training crops, differentiably, so that a loss on the last estimate trains the
denoiser *through* all of them (``tunecli train denoise --unroll 8``). Each crop was blurred
circularly by its own kernel (:func:`tunecli.degradations.blur.blur` with
``boundary="circular"``), so the data step is the exact periodic solution
(:func:`tunecli.pnp.physics.periodic_prox`, batched), and its noise level σn sets the schedule
as at inference (:func:`tunecli.pnp.hqs.dpir_schedule`, the default alpha's: σ from 49 down to
σn, ρ_i = λ·σn²/σ_i²) and the prior's alpha at each iteration as
:class:`tunecli.pnp.prior.DenoiserPrior` sets it (:func:`tunecli.pnp.prior.prior_alpha`).
Unlike inference, the estimates are not turned by the 8 flips/rotations between iterations.

Fine-tuning a copy of ``denoise-unet-l4`` this way (rather than on the inputs a frozen prior's
HQS produces, which made it worse) is what ``docs/models.md`` measures.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tunecli.errors import UsageError
from tunecli.pnp.hqs import ITERATIONS, dpir_schedule
from tunecli.pnp.physics import kernel_spectrum, periodic_prox
from tunecli.pnp.prior import prior_alpha

#: ``network(x (B, C, H, W), omega (B, 2)) -> (B, C, H, W)``: the denoiser at each sample's ω.
Network = Callable[[Tensor, Tensor], Tensor]


def unrolled_hqs(
    network: Network, observed: Tensor, kernels: Tensor, noise: Tensor, iterations: int = ITERATIONS
) -> Tensor:
    """The last estimate of ``iterations`` HQS iterations on each periodic crop of ``observed``
    float32 ``(B, C, H, W)`` (in about [0, 1], blurred circularly by ``kernels`` ``(B, k, k)``,
    k ≤ H, W, with noise of level ``noise`` ``(B,)`` on the 0–255 scale), differentiable with
    respect to ``network``'s parameters: float32 ``(B, C, H, W)``.

    Each iteration solves the data step for every crop at once (its kernel's spectrum and its
    own ρ_i), clips the result to [0, 1] and runs ``network`` at the prior's ω for each crop's σ_i
    (rows of equal σn get equal ω, so a trainer grouping the batch by ω keeps dense convolutions).
    """
    if observed.ndim != 4 or kernels.ndim != 3 or noise.ndim != 1 or not len(observed) == len(kernels) == len(noise):
        raise UsageError(
            f"unrolled HQS takes (B, C, H, W) crops, (B, k, k) kernels and (B,) noise levels, got "
            f"{tuple(observed.shape)}, {tuple(kernels.shape)} and {tuple(noise.shape)}"
        )
    if kernels.shape[-1] > observed.shape[-1] or kernels.shape[-2] > observed.shape[-2]:
        raise UsageError(f"{tuple(kernels.shape[-2:])} kernels do not fit {tuple(observed.shape[-2:])} crops")
    schedules = [dpir_schedule(float(level), iterations=iterations) for level in noise.detach().cpu()]
    spectrum = kernel_spectrum(kernels.to(observed), tuple(observed.shape[-2:]))[:, None]  # (B, 1, H, W/2+1)
    power = spectrum.abs().square()
    estimate = observed
    for i in range(iterations):
        rho = observed.new_tensor([s.rhos[i] for s in schedules])[:, None, None, None]
        x = periodic_prox(spectrum, power, estimate, observed, rho).clamp(0.0, 1.0)
        alphas = observed.new_tensor([prior_alpha(s.sigmas[i]) for s in schedules])
        estimate = network(x, torch.stack((1.0 - alphas, alphas), dim=1))
    return estimate
