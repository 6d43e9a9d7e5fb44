"""Tunable layers: one-hot property, per-sample ω, fast path, baking, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tunecli.archs import build_arch
from tunecli.layers import TunableConv2d, TunableLinear, TunableParameter, TunableSequential, bake, remap_omega

torch.manual_seed(0)

CONV_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=8, kernel_size=5, stride=2, padding=2),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=2, padding=1, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=3, groups=6, padding=2, dilation=2),
    dict(in_channels=3, out_channels=5, kernel_size=(3, 5), padding=(1, 2), padding_mode="reflect"),
    dict(in_channels=3, out_channels=5, kernel_size=2, stride=2),
]


def one_hot(p: int, i: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(i), p).float()


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv_one_hot_equals_plain_conv(kwargs: dict) -> None:
    p = 3
    layer = TunableConv2d(p=p, **kwargs)
    x = torch.randn(2, kwargs["in_channels"], 11, 13)
    for i in range(p):
        plain = nn.Conv2d(**kwargs)
        with torch.no_grad():
            plain.weight.copy_(layer.weight[i])
            if layer.bias is not None:
                plain.bias.copy_(layer.bias[i])
        torch.testing.assert_close(layer(x, one_hot(p, i)), plain(x), atol=1e-6, rtol=0)


def test_linear_one_hot_equals_plain_linear() -> None:
    p = 4
    layer = TunableLinear(7, 5, p)
    x = torch.randn(3, 2, 7)
    for i in range(p):
        expected = F.linear(x, layer.weight[i], layer.bias[i])
        torch.testing.assert_close(layer(x, one_hot(p, i)), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kwargs", CONV_CASES)
@pytest.mark.parametrize("affine", [False, True])
def test_conv_per_sample_equals_each_alone_and_shared_path(kwargs: dict, affine: bool) -> None:
    p = 2
    layer = TunableConv2d(p=p, affine=affine, **kwargs)
    x = torch.randn(4, kwargs["in_channels"], 9, 10)
    omega = torch.rand(4, p)
    batched = layer(x, omega)
    for b in range(4):
        alone = layer(x[b : b + 1], omega[b])
        torch.testing.assert_close(batched[b : b + 1], alone, atol=1e-5, rtol=1e-5)
    same = omega[:1].expand(4, p).contiguous()
    shared = layer(x, omega[0])
    # a (B, p) ω with identical rows takes the grouped path; it must agree with the fast path
    torch.testing.assert_close(layer(x, same), shared, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_linear_and_parameter_per_sample(affine: bool) -> None:
    p = 3
    lin = TunableLinear(6, 4, p, affine=affine)
    par = TunableParameter((4,), p, init=0.5, affine=affine)
    with torch.no_grad():
        par.value.normal_()
    x = torch.randn(5, 3, 6)
    omega = torch.distributions.Dirichlet(torch.ones(p)).sample((5,))
    batched, scale = lin(x, omega), par(omega)
    assert scale.shape == (5, 4)
    for b in range(5):
        torch.testing.assert_close(batched[b : b + 1], lin(x[b : b + 1], omega[b]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(scale[b : b + 1], par(omega[b]), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "arch,hparams",
    [("tiny", {"p": 3}), ("tiny", {"p": 2, "affine": True}), ("unet", {"widths": [8, 16, 32], "blocks": [1, 1, 1]})],
)
def test_bake_equals_unbaked_model(arch: str, hparams: dict) -> None:
    net = build_arch(arch, hparams).eval()
    omega = torch.distributions.Dirichlet(torch.ones(net.p)).sample()
    x = torch.rand(2, 3, 32, 24)
    with torch.no_grad():
        expected = net(x, omega)
        baked = bake(net, omega)
        got = baked(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, (TunableConv2d, TunableLinear, TunableParameter)) for m in baked.modules())
    # the original is untouched and still tunable
    assert any(isinstance(m, TunableConv2d) for m in net.modules())


def test_bake_refuses_per_sample_omega() -> None:
    net = build_arch("tiny", {})
    with pytest.raises(ValueError, match="shape \\(p,\\)"):
        bake(net, torch.rand(2, 2))


@pytest.mark.parametrize("affine", [False, True])
def test_gradients_reach_every_kernel(affine: bool) -> None:
    net = build_arch("unet", {"widths": [8, 16], "blocks": [1, 1], "p": 3, "affine": affine})
    x = torch.rand(4, 3, 16, 16)
    omega = torch.distributions.Dirichlet(torch.ones(3)).sample((4,))
    net(x, omega).square().mean().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        if param.dim() >= 2 and param.shape[0] == 3 and name.endswith("weight"):
            per_kernel = param.grad.reshape(3, -1).abs().sum(dim=1)
            assert torch.all(per_kernel > 0), name


def test_fan_in_initialization_is_per_kernel() -> None:
    layer = TunableConv2d(16, 32, 3, p=4)
    bound = 1 / (16 * 9) ** 0.5
    assert layer.weight.abs().max() <= bound
    for i in range(4):  # each kernel spans its own full range, not a bank-wide smaller one
        assert layer.weight[i].abs().max() > 0.9 * bound


def test_omega_errors() -> None:
    layer = TunableConv2d(3, 3, 3, p=2, padding=1)
    with pytest.raises(RuntimeError, match="no tuning vector"):
        layer(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="shape \\(p,\\) or \\(B, p\\) with p=2"):
        layer(torch.rand(1, 3, 8, 8), torch.rand(3))
    with pytest.raises(ValueError, match="3 rows for a batch of 2"):
        layer(torch.rand(2, 3, 8, 8), torch.rand(3, 2))


def test_tunable_sequential_passes_omega_and_keeps_sequential_keys() -> None:
    seq = TunableSequential(TunableConv2d(3, 4, 3, p=2, padding=1), nn.ReLU(), TunableConv2d(4, 3, 1, p=2))
    plain = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1))
    assert [k.split(".")[0] for k in seq.state_dict()] == ["0", "0", "2", "2"]
    omega = torch.tensor([0.0, 1.0])
    with torch.no_grad():
        for i in (0, 2):
            plain[i].weight.copy_(seq[i].weight[1])
            plain[i].bias.copy_(seq[i].bias[1])
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(seq(x, omega), plain(x), atol=1e-6, rtol=0)


def test_a_layer_keeps_no_omega_between_calls() -> None:
    """ω is an argument, not state: a call at one ω does not change a later call at another."""
    net = build_arch("unet", {"widths": [8, 16], "blocks": [1, 1]}).eval()
    x = torch.rand(1, 3, 16, 16)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    with torch.no_grad():
        first = net(x, a)
        net(x, b)
        again = net(x, a)
        with pytest.raises(RuntimeError, match="no tuning vector"):
            net(x)
    torch.testing.assert_close(first, again, atol=0, rtol=0)


@pytest.mark.parametrize("arch", ["unet", "srnet"])
def test_remap_omega_computes_the_source_at_the_mapped_omega(arch: str) -> None:
    # a simplex p = 2 source into an affine p = 2 target under ω_source = c + M ω'
    small = {"unet": {"widths": [8, 16], "blocks": [1, 1]}, "srnet": {"width": 8, "blocks": 1, "scale": 2}}[arch]
    torch.manual_seed(0)
    source = build_arch(arch, {"p": 2, **small}).eval()
    target = build_arch(arch, {"p": 2, "affine": True, **small}).eval()
    offset, matrix = (1.1, -0.1), ((-0.6, 0.0), (0.6, 0.0))
    remap_omega(target, source, offset, matrix)
    x = torch.rand(2, 3, 16, 16)
    for new in ([0.0, 0.0], [0.5, 0.9], [1.0, 1.0]):
        mapped = torch.tensor(offset) + torch.tensor(matrix) @ torch.tensor(new)
        with torch.no_grad():
            expected, got = source(x, mapped), target(x, torch.tensor(new))
        assert torch.allclose(got, expected, atol=1e-5), new
    # the second axis starts with zero deltas everywhere
    with torch.no_grad():
        a, b = target(x, torch.tensor([0.3, 0.0])), target(x, torch.tensor([0.3, 1.0]))
    assert torch.allclose(a, b, atol=1e-6)


def test_remap_omega_refuses_what_cannot_hold_the_map() -> None:
    source = build_arch("unet", {"p": 2, "widths": [8, 16], "blocks": [1, 1]})
    plain = build_arch("unet", {"p": 2, "widths": [8, 16], "blocks": [1, 1]})
    with pytest.raises(ValueError, match="is not affine"):
        remap_omega(plain, source, (1.0, 0.0), ((1.0, 0.0), (0.0, 1.0)))
    affine = build_arch("unet", {"p": 3, "affine": True, "widths": [8, 16], "blocks": [1, 1]})
    with pytest.raises(ValueError, match=r"a 2x3 matrix, not \(2,\) and \(2, 2\)"):
        remap_omega(affine, source, (1.0, 0.0), ((1.0, 0.0), (0.0, 1.0)))
    other = build_arch("unet", {"p": 2, "affine": True, "widths": [8, 16, 32], "blocks": [1, 1, 1]})
    with pytest.raises(ValueError, match=r"no tunable layer|differ outside"):
        remap_omega(other, source, (1.0, 0.0), ((1.0, 0.0), (0.0, 1.0)))
