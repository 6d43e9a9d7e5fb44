"""One optimizer step of an adversarial recipe: the discriminator learns from each sample's fake
in proportion to that sample's adversarial ω, and not at all from a batch that asked for none."""

from __future__ import annotations

import copy

import pytest
import torch
from test_multi_loss import l0, make_batch, make_net
from torch import Tensor, nn

from tunecli.losses import adversarial
from tunecli.losses.adversarial import PatchDiscriminator, discriminator_loss, generator_adversarial_loss
from tunecli.tasks import Objective, TrainBatch, TrainingRecipe
from tunecli.training.loop import Adversary, TrainConfig, adversarial_share, optimizer_step

CONFIG = TrainConfig(task="upscale", data=[], out="x.safetensors")
D_LR = 0.1


def gan(out: Tensor, batch: TrainBatch, logits: Tensor) -> Tensor:
    return generator_adversarial_loss(logits)


RECIPE = TrainingRecipe(
    objectives=(Objective("fidelity", l0), Objective("gan", gan, adversarial=True)),
    weights=lambda omega: omega,
    crop=16,
)

Recorded = list[tuple[Tensor, Tensor, Tensor | None]]


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """The (real logits, fake logits, fake weights) of every discriminator loss computed."""
    calls: Recorded = []

    def recording(logits_real: Tensor, logits_fake: Tensor, fake_weights: Tensor | None = None) -> Tensor:
        weights = None if fake_weights is None else fake_weights.detach().clone()
        calls.append((logits_real.detach().clone(), logits_fake.detach().clone(), weights))
        return discriminator_loss(logits_real, logits_fake, fake_weights)

    monkeypatch.setattr(adversarial, "discriminator_loss", recording)
    return calls


def make_adversary() -> Adversary:
    # no spectral norm: its power iteration would change the network at every call
    torch.manual_seed(0)
    disc = PatchDiscriminator(width=4, spectral_norm=False)
    return Adversary(disc, torch.optim.SGD(disc.parameters(), lr=D_LR))


def stepped(disc: nn.Module, real: Tensor, fake: Tensor, weights: Tensor | None) -> dict[str, Tensor]:
    """The parameters of a copy of ``disc`` after the trainer's step on this loss."""
    disc = copy.deepcopy(disc)
    loss = discriminator_loss(disc(real), disc(fake), weights)
    loss.backward()
    nn.utils.clip_grad_norm_(disc.parameters(), CONFIG.grad_clip)
    with torch.no_grad():
        for parameter in disc.parameters():
            parameter -= D_LR * parameter.grad
    return {name: p.detach() for name, p in disc.named_parameters()}


def test_the_fake_term_weighs_each_sample_by_its_adversarial_omega(recorded: Recorded) -> None:
    net, adversary = make_net(), make_adversary()
    batch = make_batch([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    before = copy.deepcopy(adversary.net)
    with torch.no_grad():  # the fakes are the outputs before the generator's own step
        fakes = net(batch.inputs, batch.omega)
        real_logits, fake_logits = before(batch.targets), before(fakes)
    optimizer_step(net, torch.optim.SGD(net.parameters(), lr=0.1), batch, RECIPE, CONFIG, 0, adversary)

    [(real, fake, weights)] = recorded
    torch.testing.assert_close(real, real_logits)
    torch.testing.assert_close(fake, fake_logits)
    assert weights is not None
    torch.testing.assert_close(weights, torch.tensor([0.0, 0.7, 1.0]))
    torch.testing.assert_close(weights, adversarial_share(RECIPE, batch.omega))
    # the discriminator took the step of exactly that loss, and weighting every fake by 1 would
    # have taken another
    after = dict(adversary.net.named_parameters())
    expected = stepped(before, batch.targets, fakes, torch.tensor([0.0, 0.7, 1.0]))
    for name, value in expected.items():
        torch.testing.assert_close(after[name], value, msg=name)
    unweighted = stepped(before, batch.targets, fakes, None)
    assert any((unweighted[name] - expected[name]).abs().max() > 1e-6 for name in expected)


def test_a_batch_without_adversarial_weight_leaves_the_discriminator_alone(recorded: Recorded) -> None:
    net, adversary = make_net(), make_adversary()
    before = copy.deepcopy(adversary.net.state_dict())
    batch = make_batch([[1.0, 0.0], [1.0, 0.0]])
    optimizer_step(net, torch.optim.SGD(net.parameters(), lr=0.1), batch, RECIPE, CONFIG, 0, adversary)
    assert recorded == []
    for name, value in adversary.net.state_dict().items():
        assert torch.equal(value, before[name]), name
