"""The parametric multi-loss: per-sample ``Σⱼ wⱼ(ω)·Lⱼ``, batch mean; a one-hot ω trains
exactly one objective, and each sample of a mixed batch its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fake_features import write_fake_vgg
from torch import Tensor, nn

from tunecli.archs import build_arch
from tunecli.errors import UsageError
from tunecli.losses.adversarial import PatchDiscriminator
from tunecli.tasks import Objective, TrainBatch, TrainingRecipe, get_task
from tunecli.training.loop import Adversary, TrainConfig, adversarial_share, multi_loss

TINY_UNET = {"p": 2, "widths": [4, 8], "blocks": [1, 1]}


def l0(out: Tensor, batch: TrainBatch) -> Tensor:
    return (out - batch.targets).pow(2).mean(dim=(1, 2, 3))


def l1(out: Tensor, batch: TrainBatch) -> Tensor:
    return (out - 0.3).abs().mean(dim=(1, 2, 3))


RECIPE = TrainingRecipe(objectives=(Objective("l0", l0), Objective("l1", l1)), weights=lambda omega: omega, crop=16)


def make_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_arch("unet", TINY_UNET)


def make_batch(omega: list[list[float]], seed: int = 0) -> TrainBatch:
    generator = torch.Generator().manual_seed(seed)
    b = len(omega)
    inputs = torch.rand(b, 3, 16, 16, generator=generator)
    targets = torch.rand(b, 3, 16, 16, generator=generator)
    return TrainBatch(inputs, targets, torch.tensor(omega))


def grads(net: nn.Module, loss: Tensor) -> dict[str, Tensor]:
    net.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def assert_same_grads(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert set(a) == set(b) and a
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-7, rtol=1e-6, msg=name)


@pytest.mark.parametrize(("omega", "alone"), [((1.0, 0.0), l0), ((0.0, 1.0), l1)])
def test_one_hot_omega_trains_exactly_one_objective(omega: tuple[float, float], alone) -> None:
    net = make_net()
    batch = make_batch([list(omega)] * 3)
    mixed = grads(net, multi_loss(RECIPE, net(batch.inputs, batch.omega), batch, None))
    single = grads(net, alone(net(batch.inputs, batch.omega), batch).mean())
    assert_same_grads(mixed, single)
    # and the other objective alone gives another gradient: the comparison has teeth
    other = l1 if alone is l0 else l0
    different = grads(net, other(net(batch.inputs, batch.omega), batch).mean())
    assert any(not torch.allclose(mixed[k], different[k], atol=1e-6) for k in mixed)


def test_per_sample_omega_mixes_objectives_sample_by_sample() -> None:
    net = make_net()
    batch = make_batch([[1.0, 0.0], [0.0, 1.0]])
    out = net(batch.inputs, batch.omega)
    loss = multi_loss(RECIPE, out, batch, None)
    per_sample = (l0(out, batch)[0] + l1(out, batch)[1]) / 2
    torch.testing.assert_close(loss, per_sample, atol=1e-7, rtol=1e-6)
    swapped = (l1(out, batch)[0] + l0(out, batch)[1]) / 2
    assert abs(float((loss - swapped).detach())) > 1e-3  # the rows are not interchangeable
    assert_same_grads(
        grads(net, multi_loss(RECIPE, net(batch.inputs, batch.omega), batch, None)), grads(net, per_sample)
    )


def test_interior_omega_is_the_weighted_sum() -> None:
    net = make_net(1)
    omega = [[0.25, 0.75], [0.6, 0.4], [1.0, 0.0]]
    batch = make_batch(omega, seed=1)
    with torch.no_grad():
        out = net(batch.inputs, batch.omega)
        loss = multi_loss(RECIPE, out, batch, None)
    w = torch.tensor(omega)
    expected = (w[:, 0] * l0(out, batch) + w[:, 1] * l1(out, batch)).mean()
    torch.testing.assert_close(loss, expected, atol=1e-7, rtol=1e-6)


def test_weights_of_the_wrong_shape_are_refused() -> None:
    batch = make_batch([[1.0, 0.0]])
    bad = TrainingRecipe(objectives=(Objective("l0", l0),), weights=lambda omega: omega, crop=16)
    with pytest.raises(ValueError, match="objective weights have shape"):
        multi_loss(bad, batch.inputs, batch, None)


def test_adversarial_objective_gets_logits_and_leaves_the_discriminator_alone() -> None:
    seen: list[Tensor] = []

    def adversarial(out: Tensor, batch: TrainBatch, logits: Tensor) -> Tensor:
        seen.append(logits)
        return -logits.mean(dim=(1, 2, 3))

    recipe = TrainingRecipe(
        objectives=(Objective("l0", l0), Objective("gan", adversarial, adversarial=True)),
        weights=lambda omega: omega,
        crop=16,
    )
    assert recipe.adversarial
    net = make_net()
    torch.manual_seed(0)
    disc = PatchDiscriminator(width=4)
    adversary = Adversary(disc, torch.optim.AdamW(disc.parameters()))
    batch = make_batch([[0.0, 1.0], [1.0, 0.0]])
    out = net(batch.inputs, batch.omega)
    loss = multi_loss(recipe, out, batch, adversary)
    assert len(seen) == 1 and seen[0].shape == (2, 1, 2, 2)
    loss.backward()
    assert all(p.grad is None for p in disc.parameters())  # no gradient into the discriminator
    assert all(p.requires_grad for p in disc.parameters())  # and it stays trainable
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    torch.testing.assert_close(adversarial_share(recipe, batch.omega), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="discriminator"):
        multi_loss(recipe, out, batch, None)


def test_task_recipes_weigh_objectives_by_omega(tmp_path: Path) -> None:
    """denoise/deblur: one objective of weight 1 (ω picks the degradation); upscale: ω itself;
    style: content + Σ ωᵢ·styleᵢ + TV."""
    omega = torch.tensor([[0.2, 0.8], [1.0, 0.0]])
    cpu = torch.device("cpu")
    for name in ("denoise", "deblur"):
        recipe = get_task(name).recipe(TrainConfig(task=name, data=[], out="x.safetensors", patch=32), cpu)
        assert len(recipe.objectives) == 1 and not recipe.adversarial and recipe.crop == 32
        torch.testing.assert_close(recipe.weights(omega), torch.ones(2, 1))

    import tunecli.tasks.upscale as upscale

    features = tmp_path / "vgg_normalised_conv3_1.pth"
    write_fake_vgg(features)
    config = TrainConfig.of("upscale", data=[], out="x.safetensors", patch=16, scale=2, features=str(features))
    recipe = upscale.TASK.recipe(config, cpu)
    assert [o.name for o in recipe.objectives] == ["fidelity", "perceptual"]
    assert [o.adversarial for o in recipe.objectives] == [False, True]
    assert recipe.crop == 32 and recipe.scale == 2
    torch.testing.assert_close(recipe.weights(omega), omega)
    # --perceptual-weight scales the perceptual column only; a weight <= 0 is refused
    config.task_options["perceptual_weight"] = 0.01
    balanced = upscale.TASK.recipe(config, cpu)
    torch.testing.assert_close(balanced.weights(omega), omega * torch.tensor([1.0, 0.01]))
    assert balanced.record["perceptual_weight"] == 0.01
    config.task_options["perceptual_weight"] = 0.0
    with pytest.raises(UsageError, match=r"--perceptual-weight 0\.0: use a weight > 0"):
        upscale.TASK.recipe(config, cpu)

    from PIL import Image

    styles = []
    for i, name in enumerate(("a.png", "b.png")):
        pixels = torch.randint(0, 256, (64, 64, 3), generator=torch.Generator().manual_seed(i), dtype=torch.uint8)
        Image.fromarray(pixels.numpy()).save(tmp_path / name)
        styles.append(str(tmp_path / name))
    config = TrainConfig.of("style", data=[], out="x.safetensors", patch=32, features=str(features), styles=styles)
    recipe = get_task("style").recipe(config, cpu)
    assert [o.name for o in recipe.objectives] == ["content", "style:a", "style:b", "tv"]
    ones = torch.ones(2, 1)
    torch.testing.assert_close(recipe.weights(omega), torch.cat([ones, omega, ones], dim=1))
