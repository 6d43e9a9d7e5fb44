"""Architectures: registry, declared receptive radius, size rules."""

from __future__ import annotations

import pytest
import torch

from tunecli.archs import build_arch, get_arch, list_archs


def test_registry_lists_builtins_with_defaults() -> None:
    names = [spec.name for spec in list_archs()]
    assert "tiny" in names and "unet" in names
    assert get_arch("unet").defaults["p"] == 2
    assert get_arch("nope") is None
    with pytest.raises(KeyError):
        build_arch("nope", {})


def test_hparams_are_recorded_for_rebuild() -> None:
    net = build_arch("unet", {"widths": (8, 16), "blocks": [1, 2], "p": 3})
    assert net.hparams == {"channels": 3, "widths": [8, 16], "blocks": [1, 2], "p": 3, "affine": False}
    clone = build_arch("unet", net.hparams)
    assert clone.state_dict().keys() == net.state_dict().keys()


@pytest.mark.parametrize(
    "arch,hparams",
    [
        ("tiny", {}),
        ("unet", {"widths": [4, 8, 8], "blocks": [1, 1, 1]}),
        ("unet", {"widths": [4, 8], "blocks": [2, 1]}),
    ],
)
def test_receptive_radius_bounds_the_influence(arch: str, hparams: dict) -> None:
    """An input pixel further than the declared radius never changes the output pixel."""
    net = build_arch(arch, hparams).eval()
    contract = net.tiling
    r = contract.receptive_radius
    size = 2 * r + 2 * contract.size_multiple + 8
    size += -size % contract.size_multiple
    x = torch.rand(1, 3, size, size, requires_grad=True)
    omega = torch.tensor([0.5, 0.5])
    c = size // 2
    net(x, omega)[0, :, c, c].sum().backward()
    influence = x.grad.abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(influence, as_tuple=True)
    assert int((rows - c).abs().max()) <= r
    assert int((cols - c).abs().max()) <= r


def test_unet_rejects_bad_hparams() -> None:
    with pytest.raises(ValueError, match="same, non-zero length"):
        build_arch("unet", {"widths": [8, 16], "blocks": [1]})
    with pytest.raises(TypeError):
        build_arch("unet", {"depth": 3})


@pytest.mark.parametrize("arch,hparams", [("tiny", {}), ("unet", {"widths": [4, 8], "blocks": [1, 1]})])
def test_half_precision_networks_take_float32_and_keep_the_skip_exact(arch: str, hparams: dict) -> None:
    """Weights in bf16, input in float32: the output is float32 and only the correction is
    rounded, so a network whose correction is zero returns a 16-bit image bit for bit."""
    from tunecli.layers import bake

    net = build_arch(arch, hparams)
    last = net.body[-1] if arch == "tiny" else net.tail
    with torch.no_grad():
        for parameter in last.parameters():
            parameter.zero_()
    baked = bake(net, torch.tensor([0.5, 0.5])).to(torch.bfloat16).eval()
    x = torch.randint(0, 65536, (1, 3, 16, 16)).float() / 65535  # 16-bit levels bf16 cannot hold
    assert not torch.equal(x.bfloat16().float(), x)
    with torch.inference_mode():
        out = baked(x)
    assert out.dtype == torch.float32
    assert torch.equal(out, x)


def test_srnet_warm_start_across_scales_carries_the_shared_layers() -> None:
    torch.manual_seed(0)
    x4 = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4})
    x2 = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 2})
    x2.warm_start_from(x4)
    mine, theirs = x2.state_dict(), x4.state_dict()
    carried = [k for k in mine if k.split(".")[0] in ("head", "body", "tail") or k.startswith("upsampler.0.")]
    assert carried and all(torch.equal(mine[k], theirs[k]) for k in carried)
    # the body features of both nets are then the same function of the input
    x, omega = torch.rand(1, 3, 10, 10), torch.tensor([0.3, 0.7])
    torch.testing.assert_close(x2.body(x2.head(x, omega), omega), x4.body(x4.head(x, omega), omega))
    with pytest.raises(ValueError, match="only the scale may differ"):
        build_arch("srnet", {"width": 16, "blocks": 2, "scale": 2}).warm_start_from(x4)
