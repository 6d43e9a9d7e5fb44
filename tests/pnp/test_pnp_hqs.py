"""HQS and its prior: DPIR's schedule, the order of the prior's calls, the denoiser as a prior
(σ → alpha, the σ 5 floor, baked networks reused across iterations and images)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch

import tunecli.api
from tunecli.api import Restorer
from tunecli.errors import UsageError
from tunecli.pnp.hqs import LAMBDA, NOISE_FLOOR, Schedule, dihedral, dpir_schedule, hqs
from tunecli.pnp.physics import BlurOperator
from tunecli.pnp.prior import DenoiserPrior

KERNEL = np.array([[0.0, 0.1, 0.0], [0.1, 0.6, 0.2], [0.0, 0.0, 0.0]], np.float32)


class RecordingPrior:
    """The identity prior that remembers every σ and input shape it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, tuple[int, ...]]] = []

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        self.calls.append((sigma, tuple(x.shape)))
        return x


def test_dpir_schedule() -> None:
    schedule = dpir_schedule(7.65)
    sigmas = np.array(schedule.sigmas)
    assert len(sigmas) == 8 and sigmas[0] == pytest.approx(49.0) and sigmas[-1] == pytest.approx(7.65)
    ratios = sigmas[1:] / sigmas[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)  # geometric
    np.testing.assert_allclose(schedule.rhos, LAMBDA * 7.65**2 / sigmas**2, rtol=1e-6)
    assert all(a < b for a, b in zip(schedule.rhos, schedule.rhos[1:], strict=False))  # the penalty tightens
    noise_free = dpir_schedule(0.0, iterations=3)
    assert noise_free.sigmas[-1] == pytest.approx(NOISE_FLOOR) and noise_free.rhos[-1] == pytest.approx(LAMBDA)
    assert dpir_schedule(60.0, iterations=2).sigmas == (60.0, 60.0)


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(UsageError, match="at least one iteration"):
        dpir_schedule(5.0, iterations=0)
    with pytest.raises(UsageError, match="as many rhos as sigmas"):
        Schedule((1.0, 2.0), (0.1,))
    with pytest.raises(UsageError, match="positive"):
        Schedule((1.0,), (0.0,))


def test_prior_is_called_once_per_iteration_with_falling_sigmas_on_the_grid() -> None:
    physics = BlurOperator(KERNEL, 12, 16)
    prior = RecordingPrior()
    seen: list[int] = []
    out = hqs(torch.rand(3, 12, 16), physics, prior, dpir_schedule(5.0), on_iteration=lambda i, z: seen.append(i))
    sigmas = [sigma for sigma, _ in prior.calls]
    assert sigmas == list(dpir_schedule(5.0).sigmas) and all(a > b for a, b in itertools.pairwise(sigmas))
    height, width = physics.grid
    assert {shape for _, shape in prior.calls} == {(3, height, width), (3, width, height)}  # turned by the flips
    assert tuple(out.shape) == (3, height, width) and seen == list(range(8))
    plain = RecordingPrior()
    hqs(torch.rand(3, 12, 16), physics, plain, dpir_schedule(5.0), cycle_flips=False)
    assert {shape for _, shape in plain.calls} == {(3, height, width)}
    with pytest.raises(UsageError, match=r"the blur operator's window is \(12, 16\)"):
        hqs(torch.rand(3, 12, 15), physics, prior, dpir_schedule(5.0))


def test_dihedral_transforms_are_the_eight_and_invert() -> None:
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    turned = [dihedral(x, i) for i in range(8)]
    assert len({tuple(t.flatten().tolist()) for t in turned}) == 8
    for i, t in enumerate(turned):
        torch.testing.assert_close(dihedral(t, i, inverse=True), x)
    torch.testing.assert_close(dihedral(x, 8), x)


def test_cycled_flips_commute_with_an_equivariant_prior() -> None:
    """A prior that commutes with flips and rotations (pointwise) gives the same result either way."""
    physics = BlurOperator(KERNEL, 12, 16)
    observed = torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(3))

    def squash(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return torch.sigmoid(4 * (x - 0.5))

    cycled = hqs(observed, physics, squash, dpir_schedule(5.0))
    torch.testing.assert_close(cycled, hqs(observed, physics, squash, dpir_schedule(5.0), cycle_flips=False))


def test_denoiser_prior_maps_sigma_to_alpha_with_the_floor(tiny_restorer: Callable[..., Restorer]) -> None:
    prior = DenoiserPrior(tiny_restorer())
    x = torch.rand(3, 10, 12)
    for sigma in (49.0, 27.5, 5.0, 2.55, 0.3, 80.0):
        out = prior(x, sigma)
        torch.testing.assert_close(out, x)  # the identity checkpoint
    # alpha rounded to 0.01: (49 - 5) / 45 -> 0.98 -> sigma 49.1
    assert prior.sigmas == pytest.approx([49.1, 27.5, 5.0, 5.0, 5.0, 50.0])
    gray = prior(torch.rand(1, 10, 12) * 1.4 - 0.2, 10.0)  # gray runs through the colour model; clipped first
    assert tuple(gray.shape) == (1, 10, 12) and float(gray.min()) >= 0.0 and float(gray.max()) <= 1.0


def test_denoiser_prior_reuses_baked_networks(
    tiny_restorer: Callable[..., Restorer], monkeypatch: pytest.MonkeyPatch
) -> None:
    bakes: list[object] = []
    real_bake = tunecli.api.bake
    monkeypatch.setattr(tunecli.api, "bake", lambda module, omega: bakes.append(omega) or real_bake(module, omega))
    prior = DenoiserPrior(tiny_restorer())
    physics = BlurOperator(KERNEL, 12, 16)
    schedule = dpir_schedule(2.55)  # its last two levels (< 5) both run at the floor
    for seed in range(2):
        hqs(torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(seed)), physics, prior, schedule)
    assert len(prior.sigmas) == 16 and len(bakes) == len(set(prior.sigmas)) == 7


def test_only_a_scalar_denoiser_is_a_prior(tiny_restorer: Callable[..., Restorer]) -> None:
    with pytest.raises(UsageError, match=r"must be a denoiser with one alpha, not .*\(task deblur\)"):
        DenoiserPrior(tiny_restorer("deblur"))
    prior = DenoiserPrior(tiny_restorer())
    with pytest.raises(UsageError, match=r"C = 1 or 3, got \(2, 4, 4\)"):
        prior(torch.rand(2, 4, 4), 10.0)
