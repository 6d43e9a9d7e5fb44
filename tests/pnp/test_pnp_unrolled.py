"""HQS unrolled for training (``tunecli train denoise --unroll``): the batched data step is the
operator's own, the iterations are those of ``hqs`` with the prior's alphas, gradients reach the
network, and a short run writes a card that says how it was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunecli.checkpoint import read_header
from tunecli.degradations.blur import blur, kernel_batch
from tunecli.errors import UsageError
from tunecli.pnp.hqs import dpir_schedule, hqs
from tunecli.pnp.physics import BlurOperator, kernel_spectrum, periodic_prox
from tunecli.pnp.prior import prior_alpha
from tunecli.pnp.unrolled import unrolled_hqs
from tunecli.tasks import denoise
from tunecli.training.loop import TrainConfig, train


def _crops(count: int = 3, size: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    clean = torch.rand(count, 3, size, size, generator=generator)
    kernels = kernel_batch(torch.tensor([0.3, 0.6, 0.9])[:count], generator)
    return clean, kernels


def test_batched_periodic_prox_is_the_operators_prox_per_crop() -> None:
    clean, kernels = _crops()
    observed = blur(clean, kernels, boundary="circular")
    z = torch.rand_like(clean)
    rho = torch.tensor([0.01, 0.1, 1.0])
    spectrum = kernel_spectrum(kernels, (40, 40))[:, None]
    batched = periodic_prox(spectrum, spectrum.abs().square(), z, observed, rho[:, None, None, None])
    for i in range(3):
        alone = BlurOperator(kernels[i], 40, 40, pad=0).prox(z[i], observed[i], float(rho[i]))
        torch.testing.assert_close(batched[i], alone, atol=1e-5, rtol=0)


def test_unrolled_iterations_are_those_of_hqs_with_the_priors_alphas() -> None:
    clean, kernels = _crops()
    noise = torch.tensor([2.55, 7.65, 15.0])
    observed = blur(clean, kernels, boundary="circular") + noise.view(-1, 1, 1, 1) / 255 * torch.randn(
        clean.shape, generator=torch.Generator().manual_seed(1)
    )
    seen: list[torch.Tensor] = []

    def network(x: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
        seen.append(omega)
        return 0.5 * x + 0.25  # a contraction of the clipped estimate: any fixed map will do

    estimate = unrolled_hqs(network, observed, kernels, noise, iterations=4)
    for i in range(3):
        schedule = dpir_schedule(float(noise[i]), iterations=4)
        expected = hqs(
            observed[i],
            BlurOperator(kernels[i], 40, 40, pad=0),
            lambda x, _sigma: 0.5 * x.clamp(0, 1) + 0.25,
            schedule,
            cycle_flips=False,
        )
        torch.testing.assert_close(estimate[i], expected, atol=1e-5, rtol=0)
        alphas = [prior_alpha(s) for s in schedule.sigmas]
        assert [float(o[i, 1]) for o in seen] == pytest.approx(alphas)
        assert [float(o[i].sum()) for o in seen] == pytest.approx([1.0] * 4)


def test_gradients_reach_the_network_through_every_iteration() -> None:
    clean, kernels = _crops(count=2)
    scale = torch.nn.Parameter(torch.tensor(0.9))
    calls = []

    def network(x: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return scale * x

    observed = blur(clean, kernels, boundary="circular")
    loss = torch.mean((unrolled_hqs(network, observed, kernels, torch.tensor([5.0, 5.0]), iterations=3) - clean) ** 2)
    loss.backward()
    assert len(calls) == 3 and scale.grad is not None and float(scale.grad.abs()) > 0


def test_unrolled_refuses_mismatched_shapes_in_one_line() -> None:
    clean, kernels = _crops()
    with pytest.raises(UsageError, match=r"\(B, k, k\) kernels") as error:
        unrolled_hqs(lambda x, w: x, clean, kernels[:2], torch.zeros(3))
    assert "\n" not in str(error.value)


def test_unroll_batch_blurs_each_crop_by_its_kernel_with_noise_alpha_times_the_maximum() -> None:
    clean = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    omega = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    blurred, kernels, noise = denoise.blur_and_degrade(
        clean, omega, torch.Generator().manual_seed(3), noise_max=20.0, quantize_share=0.0
    )
    assert noise.tolist() == pytest.approx([0.0, 10.0, 15.0, 20.0])
    sharp = blur(clean, kernels, boundary="circular")
    torch.testing.assert_close(blurred[0], sharp[0])  # no noise at alpha 0
    residual = (blurred - sharp).std(dim=(1, 2, 3)) * 255
    assert residual[1:].tolist() == pytest.approx([10.0, 15.0, 20.0], rel=0.1)
    sums = kernels.sum(dim=(1, 2))
    torch.testing.assert_close(sums, torch.ones(4))


def _images(folder: Path, count: int = 3, size: int = 64) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        planes = [np.sin(2 * np.pi * (rng.random() * xx + rng.random() * yy) + rng.random() * 6) for _ in range(3)]
        Image.fromarray(((np.stack(planes, axis=2) * 0.4 + 0.5) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def _config(tmp_path: Path, **settings: object) -> TrainConfig:
    values: dict[str, object] = dict(
        data=[str(_images(tmp_path / "data"))],
        out=str(tmp_path / "prior.safetensors"),
        steps=3,
        batch=2,
        patch=40,
        lr=1e-3,
        warmup=1,
        loss="l2",
        omega_groups=1,
        hparams={"widths": [8, 16], "blocks": [1, 1]},
        checkpoint_every=100,
        unroll=2,
        command="tunecli train denoise --unroll 2",
    )
    values.update(settings)
    return TrainConfig.of("denoise", **values)


def test_a_short_unrolled_run_trains_and_its_card_says_how(tmp_path: Path) -> None:
    result = train(_config(tmp_path))
    assert result.steps == 3 and np.isfinite(result.last_loss)
    training = read_header(tmp_path / "prior.safetensors").meta["training"]
    assert training["unrolled"] == {"iterations": 2, "blur_strengths": [0.15, 1.0]}
    assert training["config"]["unroll"] == 2 and training["config"]["unroll_noise"] == 20.0


def test_unroll_refuses_crops_smaller_than_its_kernels(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--unroll needs --patch of at least 33"):
        train(_config(tmp_path, patch=32))
