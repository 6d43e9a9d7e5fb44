"""Whole-image statistics of tunable instance norm: recorded, pooled, shared."""

from __future__ import annotations

import pytest
import torch

from tunecli.layers import TunableInstanceNorm, recorded_statistics, shared_statistics


def test_recorded_statistics_are_the_images_own_and_sharing_them_changes_nothing() -> None:
    norm = TunableInstanceNorm(3, p=2, affine=False)
    omega = torch.tensor([0.3, 0.7])
    x = torch.randn(1, 3, 16, 20, generator=torch.Generator().manual_seed(0)) * 2 + 1
    with recorded_statistics(norm) as stats:
        plain = norm(x, omega)
    mean, var = stats[0]
    torch.testing.assert_close(mean, x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(var, x.var(dim=(2, 3), keepdim=True, unbiased=False))
    with shared_statistics(norm, stats):
        torch.testing.assert_close(norm(x, omega), plain, rtol=1e-5, atol=1e-5)
        # a part of the image is normalized as the whole was, not by its own statistics
        part = norm(x[..., :8], omega)
    torch.testing.assert_close(part, plain[..., :8], rtol=1e-5, atol=1e-5)
    assert norm.shared is None and norm.recording is None  # both end with their block


def test_statistics_pool_over_calls_weighted_by_pixels() -> None:
    norm = TunableInstanceNorm(2, p=2, affine=False)
    x = torch.randn(1, 2, 12, 12, generator=torch.Generator().manual_seed(1)) + torch.tensor([0.0, 3.0])[:, None, None]
    with recorded_statistics(norm) as stats:
        norm(x[..., :4], torch.tensor([1.0, 0.0]))
        norm(x[..., 4:], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(stats[0][0], x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(stats[0][1], x.var(dim=(2, 3), keepdim=True, unbiased=False))


def test_shared_statistics_must_match_the_layers() -> None:
    net = torch.nn.ModuleList([TunableInstanceNorm(2, 2, False), TunableInstanceNorm(2, 2, False)])
    with pytest.raises(ValueError, match="1 statistics for 2 normalization layers"):
        with shared_statistics(net, [(torch.zeros(1, 2, 1, 1), torch.ones(1, 2, 1, 1))]):
            pass
    with pytest.raises(RuntimeError, match="not reached"):
        with recorded_statistics(net):
            pass
