"""srnet: the output is a bicubic upscale of the input plus the network's correction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunecli.archs import build_arch


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("affine", [False, True])
def test_a_zero_correction_returns_the_bicubic_base_unclipped(scale: int, affine: bool) -> None:
    """With the tail (the last tunable layer) zeroed, every ω gives exactly the base: torch's
    bicubic (``F.interpolate``, a = -0.75, not clipped: it overshoots [0, 1] at edges)."""
    torch.manual_seed(0)
    net = build_arch("srnet", {"width": 4, "blocks": 1, "scale": scale, "affine": affine}).eval()
    with torch.no_grad():
        for parameter in net.tail.parameters():
            parameter.zero_()
    x = torch.rand(2, 3, 7, 9)
    x[:, :, 3:, 4:] = 1.0  # a hard edge next to noise: bicubic overshoots
    base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert base.max() > 1.0 and base.min() < 0.0
    with torch.inference_mode():
        for omega in (torch.tensor([1.0, 0.0]), torch.tensor([[0.3, 0.7], [0.0, 1.0]])):
            out = net(x, omega)
            assert out.shape == (2, 3, 7 * scale, 9 * scale)
            assert torch.equal(out, base)
    # the comparison has teeth: the untouched network adds a correction
    torch.manual_seed(0)
    untouched = build_arch("srnet", {"width": 4, "blocks": 1, "scale": scale, "affine": affine}).eval()
    with torch.inference_mode():
        assert (untouched(x, torch.tensor([0.3, 0.7])) - base).abs().max() > 1e-3
