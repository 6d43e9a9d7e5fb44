"""Every registered architecture's declared receptive radius makes its tiles exact.

The tiling engine trusts the contract: with an overlap of twice the declared radius and that
radius as the zero-weight margin (:func:`tunecli.tiling.tile_apply`, as :mod:`tunecli.api`
calls it), a tile-exact network must give the whole-image output. A radius declared too small
shows up as seams here, so the tiles are the smallest the grid allows (every inner edge as
close as possible to the pixels it feeds) and there are several of them along each axis.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tunecli.archs import TilingContract, build_arch, list_archs
from tunecli.layers import bake
from tunecli.tiling import tile_apply

EXACT = 1e-5  # float rounding only

#: tiny hyper-parameters of every built-in architecture (one entry per variant worth tiling)
TINY: dict[str, list[dict[str, Any]]] = {
    "tiny": [{"width": 4}],
    "unet": [{"widths": [4, 8, 8], "blocks": [1, 1, 1]}, {"widths": [4, 8], "blocks": [2, 1]}],
    "srnet": [
        {"width": 4, "blocks": 1, "scale": scale, "upsampler": upsampler}
        for upsampler in ("shuffle", "nearest", "bilinear")
        for scale in (2, 3, 4)
    ],
    "stylenet": [{"widths": [4, 4, 4], "blocks": 1}],
}
CASES = [(arch, hparams) for arch, variants in TINY.items() for hparams in variants]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def test_every_builtin_architecture_is_covered() -> None:
    """A new architecture in the package needs tiny hyper-parameters above to be checked."""
    builtins = {spec.name for spec in list_archs() if spec.factory.__module__.startswith("tunecli.")}
    assert builtins == set(TINY)


def tiled_error(net: torch.nn.Module, contract: TilingContract, radius: int) -> float:
    """Largest difference between the whole-image output and tiles of the smallest legal side
    whose overlap and margin assume ``radius``."""
    multiple = contract.size_multiple
    overlap = _round_up(2 * radius, multiple)
    tile = overlap + multiple
    # several inner tile edges per axis, and a height that is not the width
    height, width = tile + 3 * multiple, 2 * tile + multiple
    torch.manual_seed(1)
    image = torch.rand(net.channels, height, width)
    with torch.inference_mode():
        whole = net(image[None])[0]
    out = tile_apply(
        net,
        image,
        tile=tile,
        overlap=overlap,
        scale=contract.scale,
        size_multiple=multiple,
        receptive_radius=radius,
        batch_size=8,
    )
    assert out.shape == whole.shape == (net.channels, height * contract.scale, width * contract.scale)
    return float((out - whole).abs().max())


@pytest.mark.parametrize(("arch", "hparams"), CASES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(CASES)])
def test_the_declared_radius_makes_tiles_exact(arch: str, hparams: dict[str, Any]) -> None:
    torch.manual_seed(0)
    net = build_arch(arch, hparams).eval()
    contract = net.tiling
    if not contract.tile_exact:
        pytest.skip(f"{arch} is not tile-exact by its contract")
    omega = torch.arange(1, net.p + 1, dtype=torch.float32)
    baked = bake(net, omega / omega.sum()).eval()
    radius = contract.receptive_radius
    assert tiled_error(baked, contract, radius) < EXACT
    # guard: half that radius fails the same check (a tile sees its zero padding), so the
    # image and tiles are large enough for a radius declared too small to show
    assert tiled_error(baked, contract, radius // 2) > EXACT
