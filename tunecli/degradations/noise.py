"""Additive white Gaussian noise, the one implementation used by training and evaluation.

The random source is the caller's: training draws the standard normal sample from a seeded
``torch.Generator`` (the same batches on every device), evaluation from a numpy generator
seeded per (image, σ) (the same noisy images for every model). What noise *is* — the scaling
to the 0–255 σ and the 8-bit saving — lives here only; so does the scale of the denoise task's
alpha, σ(alpha) = 5 + 45·alpha (:func:`sigma_of_alpha`), which the task and the plug-and-play
prior (:mod:`tunecli.pnp.prior`) share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import Generator, Tensor


#: The noise levels (0–255) of the denoise task's alpha 0 and alpha 1: its trained range.
SIGMA_MIN = 5.0
SIGMA_MAX = 50.0


def sigma_of_alpha(alpha: float) -> float:
    """Noise level (0–255 scale) the denoiser assumes at ``alpha`` in [0, 1]."""
    return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * alpha


def alpha_of_sigma(sigma: float) -> float:
    """The alpha matching a known noise level ``sigma`` (0–255 scale), clipped to [0, 1]."""
    return min(1.0, max(0.0, (sigma - SIGMA_MIN) / (SIGMA_MAX - SIGMA_MIN)))


def add_awgn(clean: Tensor, sigma: Tensor, standard_normal: Tensor, quantize: Tensor | None = None) -> Tensor:
    """``clean + σ/255 · n`` per sample.

    ``clean`` and ``standard_normal``: float32 ``(B, C, H, W)``, ``clean`` in [0, 1]; ``sigma``:
    ``(B,)`` on the 0–255 scale; ``quantize``: ``(B,)`` bool — those samples are clipped and
    rounded to 8 bits, as a noisy photo saved to PNG would be (the others stay unclipped float).
    """
    import torch

    noisy = clean + standard_normal * (sigma.to(clean.dtype) / 255.0).view(-1, 1, 1, 1)
    if quantize is not None and bool(quantize.any()):
        rounded = torch.round(noisy.clamp(0, 1) * 255) / 255
        noisy = torch.where(quantize.view(-1, 1, 1, 1), rounded, noisy)
    return noisy


def awgn_batch(clean: Tensor, sigma: Tensor, generator: Generator, quantize: Tensor | None = None) -> Tensor:
    """:func:`add_awgn` with the standard normal sample drawn from ``generator``."""
    import torch

    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device=clean.device)
    return add_awgn(clean, sigma, noise, quantize)


def seeded_awgn(clean: np.ndarray, sigma: float, seed: int, index: int, quantized: bool) -> np.ndarray:
    """The evaluation's noisy version of image ``index``: float32 ``(H, W, C)`` in, same out;
    the noise is seeded by ``(seed, index, σ)`` so every run and every model sees the same."""
    import torch

    from tunecli.tensors import batch_to_image, image_to_batch

    rng = np.random.default_rng([seed, index, round(sigma * 1000)])
    noise = rng.standard_normal(clean.shape).astype(np.float32)
    noisy = add_awgn(
        image_to_batch(clean),
        torch.tensor([sigma], dtype=torch.float32),
        image_to_batch(noise),
        torch.tensor([quantized]),
    )
    return batch_to_image(noisy).copy()
