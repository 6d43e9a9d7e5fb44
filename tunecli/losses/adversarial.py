"""A patch discriminator and the non-saturating GAN losses (binary cross-entropy with logits).

Loss choice: the non-saturating loss of Goodfellow et al. The discriminator minimizes
``BCE(D(real), 1) + BCE(D(fake), 0)`` and the generator minimizes ``BCE(D(fake), 1) =
softplus(-D(fake))``, each averaged over the patch logits. Hinge was not chosen: its generator term
``-D(fake)`` is unbounded below, which a per-sample weight ω would scale without limit.

The discriminator's optimizer, learning rate and update schedule belong to the trainer.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as with_spectral_norm

from tunecli.losses._checks import require_images, upcast_to_float32


class PatchDiscriminator(nn.Module):
    """PatchGAN-style discriminator: RGB ``(B, 3, H, W)`` in [0, 1] -> logits ``(B, 1, H/8, W/8)``.

    Three 4x4 stride-2 convolutions (``width``, 2·``width``, 4·``width`` channels), a 3x3 stride-1
    convolution and a 3x3 convolution to one logit per patch, LeakyReLU(0.2) in between; H and W are
    floored at each stride, so they must be at least 8. Each logit sees a 54x54 pixel patch. There is
    no normalization over the batch (no batch norm), so each sample's logits depend on that sample
    only; ``spectral_norm=True`` (the default) bounds each layer's Lipschitz constant, which keeps
    the adversarial gradient tame. About 1.3 million parameters at ``width=64`` (order 10⁶; it
    grows with ``width²``). Inputs are mapped to [-1, 1] inside.
    """

    min_side = 8

    def __init__(self, width: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        widths = (3, width, 2 * width, 4 * width)
        convs: list[nn.Conv2d] = [
            nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1) for c_in, c_out in itertools.pairwise(widths)
        ]
        convs += [
            nn.Conv2d(4 * width, 4 * width, kernel_size=3, padding=1),
            nn.Conv2d(4 * width, 1, kernel_size=3, padding=1),
        ]
        layers: list[nn.Module] = []
        for index, conv in enumerate(convs):
            layers.append(with_spectral_norm(conv) if spectral_norm else conv)
            if index < len(convs) - 1:
                layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """Patch logits ``(B, 1, floor(H/8), floor(W/8))`` of ``images`` ``(B, 3, H, W)`` in [0, 1]."""
        require_images(images, "images", channels=3)
        if min(images.shape[-2:]) < self.min_side:
            raise ValueError(
                f"the discriminator needs images of at least {self.min_side}x{self.min_side} pixels, got {tuple(images.shape)}"
            )
        return self.body(images * 2 - 1)


def _require_logits(logits: Tensor, name: str) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor")
    if logits.ndim == 0 or logits.shape[0] == 0:
        raise ValueError(f"{name} must have shape (B, ...) with B >= 1, got {tuple(logits.shape)}")
    return upcast_to_float32(logits).reshape(logits.shape[0], -1)


def generator_adversarial_loss(logits_fake: Tensor) -> Tensor:
    """Non-saturating generator loss per sample, shape ``(B,)``: the mean over each sample's patch
    logits ``(B, ...)`` of ``softplus(-logit)`` (BCE against "real"). Differentiable w.r.t. the
    logits, so it trains the generator through the discriminator. Float32."""
    flat = _require_logits(logits_fake, "logits_fake")
    return F.binary_cross_entropy_with_logits(flat, torch.ones_like(flat), reduction="none").mean(dim=1)


def discriminator_loss(logits_real: Tensor, logits_fake: Tensor, fake_weights: Tensor | None = None) -> Tensor:
    """Discriminator loss, a scalar: ``mean_b BCE(real_b, 1) + Σ_b w_b BCE(fake_b, 0) / Σ_b w_b``.

    ``logits_real`` ``(B_r, ...)`` and ``logits_fake`` ``(B_f, ...)`` are patch logits; each
    sample's BCE is its mean over patches. ``fake_weights`` ``(B_f,)`` (>= 0, default all 1, used as
    constants) weights the fake samples, e.g. by each sample's adversarial ω, so outputs that were
    not asked to look real do not teach the discriminator; when they sum to 0 the fake term is 0.
    Pass ``logits_fake`` from detached outputs to keep this loss from reaching the generator."""
    real = _require_logits(logits_real, "logits_real")
    fake = _require_logits(logits_fake, "logits_fake")
    real_term = F.binary_cross_entropy_with_logits(real, torch.ones_like(real), reduction="none").mean()
    fake_per_sample = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake), reduction="none").mean(dim=1)
    if fake_weights is None:
        return real_term + fake_per_sample.mean()
    if fake_weights.shape != (fake.shape[0],):
        raise ValueError(f"fake_weights must have shape ({fake.shape[0]},), got {tuple(fake_weights.shape)}")
    weights = upcast_to_float32(fake_weights.detach())
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError("fake_weights must be finite and >= 0")
    weight_sum = weights.sum()
    # clamp keeps the division finite; with an all-zero sum the numerator is 0, so the term is 0
    fake_term = (weights * fake_per_sample).sum() / weight_sum.clamp_min(torch.finfo(weights.dtype).tiny)
    return real_term + fake_term
