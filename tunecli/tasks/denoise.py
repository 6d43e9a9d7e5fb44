"""Tunable denoising: alpha picks the noise level the model assumes.

Objective i of the p = 2 simplex is "restore images degraded by AWGN at σ_i" with σ_0 = 5
(gentle: keeps detail) and σ_1 = 50 (strong) on the 0–255 scale. An intermediate ω trains the
intermediate level ``σ(alpha) = 5 + 45·alpha`` (alpha = ω_1), so a user who knows the noise
level picks ``alpha = (σ − 5) / 45``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunecli.alpha import AlphaAxis, AlphaSpace

if TYPE_CHECKING:
    from torch import Generator, Tensor

SIGMA_MIN = 5.0
SIGMA_MAX = 50.0


def alpha_space() -> AlphaSpace:
    """The denoiser's alpha space (p = 2 simplex, user-facing scalar alpha)."""
    return AlphaSpace(
        p=2,
        domain="simplex",
        axes=(
            AlphaAxis("gentle", f"assume light noise (sigma {SIGMA_MIN:g}/255): keep detail"),
            AlphaAxis("strong", f"assume heavy noise (sigma {SIGMA_MAX:g}/255): smooth hard"),
        ),
        default=(0.78, 0.22),
        low=f"gentle: denoise as for sigma {SIGMA_MIN:g} (0-255 scale), keeps fine detail",
        high=f"strong: denoise as for sigma {SIGMA_MAX:g}, smooths the most",
        extra={"sigma_of_alpha": f"sigma = {SIGMA_MIN:g} + {SIGMA_MAX - SIGMA_MIN:g} * alpha (0-255 scale)"},
    )


def sigma_of_alpha(alpha: float) -> float:
    """Noise level (0–255 scale) the denoiser assumes at ``alpha`` in [0, 1]."""
    return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * alpha


def alpha_of_sigma(sigma: float) -> float:
    """The alpha matching a known noise level ``sigma`` (0–255 scale), clipped to [0, 1]."""
    return min(1.0, max(0.0, (sigma - SIGMA_MIN) / (SIGMA_MAX - SIGMA_MIN)))


def add_noise(clean: Tensor, sigma: Tensor, generator: Generator, quantize: Tensor | None = None) -> Tensor:
    """AWGN per sample.

    ``clean``: ``(B, C, H, W)`` float in [0, 1]; ``sigma``: ``(B,)`` on the 0–255 scale;
    ``quantize``: ``(B,)`` bool — those samples are clipped and rounded to 8 bits, as a noisy
    photo saved to PNG would be. Returns a float tensor like ``clean`` (unclipped elsewhere).
    """
    import torch

    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device=clean.device)
    noisy = clean + noise * (sigma / 255.0).view(-1, 1, 1, 1)
    if quantize is not None and bool(quantize.any()):
        rounded = torch.round(noisy.clamp(0, 1) * 255) / 255
        noisy = torch.where(quantize.view(-1, 1, 1, 1), rounded, noisy)
    return noisy


def degrade(clean: Tensor, omega: Tensor, generator: Generator, quantize_share: float = 0.5) -> Tensor:
    """Training input for ``clean`` ``(B, C, H, W)`` at per-sample ω ``(B, 2)``: noise at
    σ(ω_1), a ``quantize_share`` of the batch saved-to-8-bit."""
    import torch

    sigma = SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * omega[:, 1]
    quantize = torch.rand(clean.shape[0], generator=generator) < quantize_share
    return add_noise(clean, sigma.to(clean.dtype), generator, quantize)
