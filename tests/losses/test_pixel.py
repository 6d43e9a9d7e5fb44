"""Pixel losses: hand-computed values, per-sample (B,) results, batch independence, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from tunecli.losses import PIXEL_LOSSES, charbonnier, l1, l2, negative_psnr

# two samples, one channel, 1x2 pixels: differences (0.5, -0.5) and (0.1, 0.3)
OUT = torch.tensor([[[[1.0, 0.0]]], [[[0.2, 0.4]]]])
TARGET = torch.tensor([[[[0.5, 0.5]]], [[[0.1, 0.1]]]])


def test_l1_matches_hand_values() -> None:
    torch.testing.assert_close(l1(OUT, TARGET), torch.tensor([0.5, 0.2]))


def test_l2_matches_hand_values() -> None:
    torch.testing.assert_close(l2(OUT, TARGET), torch.tensor([0.25, (0.01 + 0.09) / 2]))


def test_charbonnier_matches_hand_values() -> None:
    eps = 0.1
    expected = torch.tensor([math.sqrt(0.25 + eps**2), (math.sqrt(0.01 + eps**2) + math.sqrt(0.09 + eps**2)) / 2])
    torch.testing.assert_close(charbonnier(OUT, TARGET, eps=eps), expected)


def test_charbonnier_of_identical_images_is_eps() -> None:
    image = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(charbonnier(image, image, eps=1e-3), torch.full((2,), 1e-3))


def test_negative_psnr_is_minus_ten_log10_of_one_over_mse() -> None:
    mse = torch.tensor([0.25, 0.05])
    torch.testing.assert_close(negative_psnr(OUT, TARGET), -10 * torch.log10(1 / mse))


def test_negative_psnr_of_identical_images_is_minus_100_db() -> None:
    image = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(negative_psnr(image, image), torch.tensor([-100.0]))


def test_registry_names() -> None:
    assert PIXEL_LOSSES == {"l1": l1, "l2": l2, "charbonnier": charbonnier, "psnr": negative_psnr}


@pytest.mark.parametrize("name", sorted(PIXEL_LOSSES))
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_shape_and_dtype_per_sample(name: str, batch: int) -> None:
    loss = PIXEL_LOSSES[name](torch.rand(batch, 3, 5, 4), torch.rand(batch, 3, 5, 4))
    assert loss.shape == (batch,)
    assert loss.dtype == torch.float32


@pytest.mark.parametrize("name", sorted(PIXEL_LOSSES))
def test_half_inputs_give_float32(name: str) -> None:
    loss = PIXEL_LOSSES[name](torch.rand(2, 3, 4, 4).half(), torch.rand(2, 3, 4, 4).half())
    assert loss.dtype == torch.float32


@pytest.mark.parametrize("name", sorted(PIXEL_LOSSES))
def test_sample_loss_ignores_the_other_samples(name: str) -> None:
    loss_fn = PIXEL_LOSSES[name]
    generator = torch.Generator().manual_seed(1)
    out, target = torch.rand(3, 3, 6, 6, generator=generator), torch.rand(3, 3, 6, 6, generator=generator)
    reference = loss_fn(out, target)
    changed_out, changed_target = out.clone(), target.clone()
    changed_out[1:] = torch.rand(2, 3, 6, 6, generator=generator)
    changed_target[2] = 0.0
    changed = loss_fn(changed_out, changed_target)
    assert changed[0] == reference[0]
    assert not torch.equal(changed[1:], reference[1:])
    torch.testing.assert_close(loss_fn(out[:1], target[:1]), reference[:1])


@pytest.mark.parametrize("name", sorted(PIXEL_LOSSES))
def test_gradient_matches_finite_differences(name: str) -> None:
    generator = torch.Generator().manual_seed(2)
    out = torch.rand(2, 2, 3, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 2, 3, 3, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda o: PIXEL_LOSSES[name](o, target), (out,))


def test_gradient_reaches_only_the_sample_it_belongs_to() -> None:
    out = torch.rand(2, 3, 4, 4, requires_grad=True)
    l2(out, torch.zeros(2, 3, 4, 4))[0].backward()
    assert out.grad is not None
    assert out.grad[0].abs().sum() > 0
    assert out.grad[1].abs().sum() == 0


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(
        ValueError, match=r"out and target must have the same shape, got \(1, 3, 4, 4\) and \(1, 3, 4, 5\)"
    ):
        l1(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))


def test_non_4d_input_is_reported() -> None:
    with pytest.raises(ValueError, match=r"out must have shape \(B, C, H, W\), got \(3, 4, 4\)"):
        l2(torch.rand(3, 4, 4), torch.rand(3, 4, 4))


def test_integer_input_is_reported() -> None:
    with pytest.raises(TypeError, match=r"target must be a floating-point tensor, got torch\.uint8"):
        l1(torch.rand(1, 3, 2, 2), torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


def test_charbonnier_rejects_non_positive_eps() -> None:
    with pytest.raises(ValueError, match="eps must be > 0, got 0"):
        charbonnier(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), eps=0)
