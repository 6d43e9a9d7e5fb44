"""srnet's upsamplers: "shuffle" (pixel shuffle, the first upscalers'), "nearest" and "bilinear" (resize + conv, no grid)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunecli.archs import build_arch
from tunecli.layers import TunableConv2d
from tunecli.models import load_model

TINY = {"width": 4, "blocks": 1}
OMEGA = torch.tensor([0.3, 0.7])


def tunable_conv_parameters(c_in: int, c_out: int, p: int = 2) -> int:
    """A 3x3 TunableConv2d without ``affine``: p kernels and p biases."""
    return p * (c_out * c_in * 9 + c_out)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_nearest_shapes_and_parameter_count(scale: int) -> None:
    width, blocks = 8, 2
    net = build_arch("srnet", {"width": width, "blocks": blocks, "scale": scale, "upsampler": "nearest"})
    stages = 2 if scale == 4 else 1
    expected = (
        tunable_conv_parameters(3, width)  # head
        + (2 * blocks + 1) * tunable_conv_parameters(width, width)  # body
        + stages * tunable_conv_parameters(width, width)  # one width → width conv per stage
        + tunable_conv_parameters(width, 3)  # tail
    )
    assert sum(p.numel() for p in net.parameters()) == expected
    shuffle = build_arch("srnet", {"width": width, "blocks": blocks, "scale": scale})
    factor_sq = 4 if scale == 4 else scale * scale
    shuffle_stage = tunable_conv_parameters(width, width * factor_sq)
    assert sum(p.numel() for p in shuffle.parameters()) == expected + stages * (
        shuffle_stage - tunable_conv_parameters(width, width)
    )
    x = torch.rand(2, 3, 7, 5)
    with torch.inference_mode():
        for omega in (OMEGA, torch.tensor([[1.0, 0.0], [0.0, 1.0]])):
            out = net(x, omega)
            assert out.shape == (2, 3, 7 * scale, 5 * scale) and out.dtype == torch.float32


def test_the_default_is_the_shipped_pixel_shuffle_layout() -> None:
    net = build_arch("srnet", {**TINY, "scale": 4})
    assert net.hparams["upsampler"] == "shuffle"
    assert [k for k in net.state_dict() if k.startswith("upsampler.")] == [
        "upsampler.0.weight",
        "upsampler.0.bias",
        "upsampler.3.weight",
        "upsampler.3.bias",
    ]
    assert net.tiling.receptive_radius == 1 + 2 + 1 + 2 + 1  # unchanged: head, block, body, stages, tail


@pytest.mark.parametrize(("name", "upsampler", "extra"), [("upscale-x4", "bilinear", 1), ("upscale-x2", "nearest", 0)])
def test_shipped_checkpoints_rebuild_with_their_resize_upsampler_and_its_radius(
    name: str, upsampler: str, extra: int
) -> None:
    model = load_model(name)
    assert model.module.hparams["upsampler"] == upsampler
    assert model.module.tiling.to_json() == model.info.meta["tiling"]
    assert model.info.meta["tiling"]["receptive_radius"] == 2 * model.module.hparams["blocks"] + 3 + extra


def test_an_unknown_upsampler_is_refused() -> None:
    with pytest.raises(ValueError, match=r"upsampler must be one of \('shuffle', 'nearest', 'bilinear'\), not 'cubic'"):
        build_arch("srnet", {**TINY, "upsampler": "cubic"})


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("blocks", [0, 2])
@pytest.mark.parametrize("upsampler", ["nearest", "bilinear"])
def test_resize_declared_radius_is_the_exact_reach(scale: int, blocks: int, upsampler: str) -> None:
    """Every output pixel of an input pixel's cell depends on inputs at most the declared radius
    away, and some at exactly that distance: the radius is neither too small nor padded."""
    torch.manual_seed(0)
    net = build_arch("srnet", {"width": 4, "blocks": blocks, "scale": scale, "upsampler": upsampler}).eval()
    radius = net.tiling.receptive_radius
    # nearest: the upsampler and tail reach 1 input pixel; bilinear 2 (x2, x4), 1 (x3: odd)
    extra = 1 if upsampler == "bilinear" and scale != 3 else 0
    assert radius == max(2 * blocks + 3 + extra, 2)
    size = 2 * radius + 7
    centre = size // 2
    reach = 0
    for dy in range(scale):
        for dx in range(scale):
            x = torch.rand(1, 3, size, size, requires_grad=True)
            net(x, OMEGA)[0, :, centre * scale + dy, centre * scale + dx].sum().backward()
            rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1)), as_tuple=True)
            reach = max(reach, int((rows - centre).abs().max()), int((cols - centre).abs().max()))
    assert reach == radius


@pytest.mark.parametrize("scale", [2, 4])
def test_a_flat_input_gets_a_flat_correction_only_from_a_resize(scale: int) -> None:
    """On a flat area, resize + conv computes every output pixel alike; pixel shuffle gives
    each position of the scale × scale cell its own kernels: the checkerboard of an untrained net."""
    x = torch.full((1, 3, 24, 24), 0.4)
    margin = build_arch("srnet", {**TINY, "scale": scale, "upsampler": "bilinear"}).tiling.receptive_radius * scale
    spread = {}
    for upsampler in ("nearest", "bilinear", "shuffle"):
        torch.manual_seed(0)
        net = build_arch("srnet", {**TINY, "scale": scale, "upsampler": upsampler}).eval()
        with torch.inference_mode():
            inner = net(x, OMEGA)[0, :, margin:-margin, margin:-margin]
        spread[upsampler] = float((inner - inner[:, :1, :1]).abs().max())
    assert spread["nearest"] < 1e-6 and spread["bilinear"] < 1e-6
    assert spread["shuffle"] > 1e-3


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_nearest_zero_tail_returns_the_bicubic_base(scale: int) -> None:
    net = build_arch("srnet", {**TINY, "scale": scale, "upsampler": "nearest"}).eval()
    with torch.no_grad():
        for parameter in net.tail.parameters():
            parameter.zero_()
    x = torch.rand(1, 3, 6, 8)
    with torch.inference_mode():
        assert torch.equal(net(x, OMEGA), F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def _first_stage_conv(net: torch.nn.Module) -> TunableConv2d:
    return next(m for m in net.upsampler if isinstance(m, TunableConv2d))


def test_nearest_warm_start_across_scales_carries_the_shared_layers() -> None:
    torch.manual_seed(0)
    x4 = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4, "upsampler": "nearest"})
    x2 = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 2, "upsampler": "nearest"})
    x2.warm_start_from(x4)
    for name in ("head", "body", "tail"):
        mine, theirs = x2.get_submodule(name).state_dict(), x4.get_submodule(name).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert torch.equal(_first_stage_conv(x2).weight, _first_stage_conv(x4).weight)


def test_warm_start_across_upsamplers_carries_head_and_body_only() -> None:
    torch.manual_seed(0)
    teacher_like = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4})
    student = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4, "upsampler": "nearest"})
    fresh_tail = student.tail.weight.detach().clone()
    student.warm_start_from(teacher_like)
    x = torch.rand(1, 3, 10, 10)
    torch.testing.assert_close(
        student.body(student.head(x, OMEGA), OMEGA), teacher_like.body(teacher_like.head(x, OMEGA), OMEGA)
    )
    assert torch.equal(student.tail.weight, fresh_tail)
    with pytest.raises(ValueError, match=r"only the scale may differ \(or the upsampler\)"):
        build_arch("srnet", {"width": 16, "blocks": 2, "upsampler": "nearest"}).warm_start_from(teacher_like)


def test_training_an_upscaler_picks_the_bilinear_upsampler_unless_told() -> None:
    """`tunecli train upscale` builds srnet with "bilinear" (the arch's own default stays "shuffle",
    which the checkpoints without an ``upsampler`` hyper-parameter were made with)."""
    from types import SimpleNamespace

    from tunecli.tasks import get_task

    task = get_task("upscale")
    assert task.arch_defaults(SimpleNamespace(arch=None)) == {"upsampler": "bilinear"}
    assert task.arch_defaults(SimpleNamespace(arch="srnet")) == {"upsampler": "bilinear"}
    assert task.arch_defaults(SimpleNamespace(arch="test-upsampler")) == {}
    assert build_arch("srnet", TINY).upsampler_kind == "shuffle"


def test_nearest_and_bilinear_warm_start_each_other_whole() -> None:
    """The two resize upsamplers have the same weights: a warm start copies every one, and the
    bilinear net differs from the nearest one only by its resize."""
    torch.manual_seed(0)
    nearest = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4, "upsampler": "nearest"}).eval()
    bilinear = build_arch("srnet", {"width": 8, "blocks": 2, "scale": 4, "upsampler": "bilinear"}).eval()
    bilinear.warm_start_from(nearest)
    mine, theirs = bilinear.state_dict(), nearest.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    for module in nearest.upsampler:
        if isinstance(module, torch.nn.Upsample):
            module.mode, module.align_corners = "bilinear", False
    x = torch.rand(1, 3, 9, 7)
    with torch.inference_mode():
        torch.testing.assert_close(bilinear(x, OMEGA), nearest(x, OMEGA))


def test_bilinear_upsampler_has_no_period_of_the_scale_in_its_resize() -> None:
    """The cause of the dot texture: a nearest resize of a random feature map repeats every value
    in a 4 x 4 cell (ones across each cell's diagonal); a bilinear one varies inside the cell."""
    feature = torch.rand(1, 1, 8, 8)
    nearest = F.interpolate(feature, scale_factor=4, mode="nearest")
    bilinear = F.interpolate(feature, scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.equal(nearest[..., ::4, ::4], nearest[..., 1::4, 1::4])
    assert not torch.allclose(bilinear[..., 4:-4:4, 4:-4:4], bilinear[..., 5:-4:4, 5:-4:4])
