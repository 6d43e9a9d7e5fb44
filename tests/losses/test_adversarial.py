"""Patch discriminator and non-saturating GAN losses: shapes, batch independence, hand values,
and the per-sample weighting of the discriminator's fake term."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tunecli.losses import PatchDiscriminator, discriminator_loss, generator_adversarial_loss


def images(batch: int, side: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))


def test_logit_shape_and_no_batch_norm() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(width=8)
    assert discriminator(images(2, side=32)).shape == (2, 1, 4, 4)
    assert discriminator(torch.rand(1, 3, 17, 24)).shape == (1, 1, 2, 3)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())


def test_parameter_count_is_of_the_documented_order() -> None:
    count = sum(p.numel() for p in PatchDiscriminator(width=64, spectral_norm=False).parameters())
    assert 1.2e6 < count < 1.3e6


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_logits_of_a_sample_ignore_the_other_samples(spectral_norm: bool) -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(width=8, spectral_norm=spectral_norm)
    if spectral_norm:
        discriminator.eval()  # in training mode each call advances the power iteration
    batch = images(3)
    changed = batch.clone()
    changed[1:] = images(2, seed=1)
    reference = discriminator(batch)
    torch.testing.assert_close(discriminator(changed)[0], reference[0])
    torch.testing.assert_close(discriminator(batch[:1]), reference[:1])


def test_discriminator_rejects_small_or_wrong_inputs() -> None:
    discriminator = PatchDiscriminator(width=4)
    with pytest.raises(ValueError, match="at least 8x8 pixels"):
        discriminator(torch.rand(1, 3, 7, 16))
    with pytest.raises(ValueError, match="must have 3 channels"):
        discriminator(torch.rand(1, 1, 16, 16))


def test_generator_loss_matches_hand_values() -> None:
    logits = torch.tensor([[[[0.0, 0.0]]], [[[2.0, -1.0]]]])
    expected = torch.tensor([math.log(2.0), (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2])
    loss = generator_adversarial_loss(logits)
    assert loss.shape == (2,) and loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected)


def test_generator_loss_trains_the_generator_through_the_discriminator() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(width=4)
    fake = images(2).requires_grad_()
    generator_adversarial_loss(discriminator(fake))[1].backward()
    assert fake.grad is not None
    assert fake.grad[1].abs().sum() > 0 and fake.grad[0].abs().sum() == 0


def test_discriminator_loss_matches_hand_value() -> None:
    real = torch.tensor([[1.0, 3.0], [0.0, -2.0]])
    fake = torch.tensor([[0.5, -0.5], [4.0, 0.0], [-1.0, -1.0]])
    real_term = F.softplus(-real).mean()
    fake_term = F.softplus(fake).mean(dim=1).mean()
    loss = discriminator_loss(real, fake)
    assert loss.shape == ()
    torch.testing.assert_close(loss, real_term + fake_term)


@pytest.mark.parametrize("sample", [0, 2])
def test_one_hot_fake_weights_equal_that_sample_alone(sample: int) -> None:
    real, fake = torch.randn(2, 1, 3, 3), torch.randn(3, 1, 3, 3)
    one_hot = F.one_hot(torch.tensor(sample), 3).float()
    torch.testing.assert_close(
        discriminator_loss(real, fake, fake_weights=one_hot), discriminator_loss(real, fake[sample : sample + 1])
    )


def test_fake_weights_are_normalized_by_their_sum() -> None:
    real, fake = torch.randn(2, 1, 3, 3), torch.randn(3, 1, 3, 3)
    weights = torch.tensor([0.2, 0.0, 0.6])
    torch.testing.assert_close(
        discriminator_loss(real, fake, fake_weights=weights), discriminator_loss(real, fake, fake_weights=5 * weights)
    )
    torch.testing.assert_close(
        discriminator_loss(real, fake, fake_weights=torch.ones(3)), discriminator_loss(real, fake)
    )


def test_zero_fake_weights_drop_the_fake_term_with_finite_gradients() -> None:
    real = torch.randn(2, 1, 3, 3)
    fake = torch.randn(3, 1, 3, 3, requires_grad=True)
    loss = discriminator_loss(real, fake, fake_weights=torch.zeros(3))
    torch.testing.assert_close(loss, F.softplus(-real).mean())
    loss.backward()
    assert fake.grad is not None and torch.equal(fake.grad, torch.zeros_like(fake))


def test_discriminator_loss_rejects_bad_weights() -> None:
    real, fake = torch.randn(2, 1, 2, 2), torch.randn(3, 1, 2, 2)
    with pytest.raises(ValueError, match=r"fake_weights must have shape \(3,\), got \(2,\)"):
        discriminator_loss(real, fake, fake_weights=torch.ones(2))
    with pytest.raises(ValueError, match="finite and >= 0"):
        discriminator_loss(real, fake, fake_weights=torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="B >= 1"):
        discriminator_loss(torch.zeros(0, 1, 2, 2), fake)
