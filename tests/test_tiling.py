"""Tiling: tiled output equals whole-image output for tile-exact models; blending has no seams."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from tunecli.archs import TilingContract, build_arch
from tunecli.errors import DeviceError
from tunecli.layers import bake
from tunecli.tiling import (
    CPU_AUTO_TILE,
    MPS_AUTO_TILE,
    auto_tile,
    default_batch_size,
    default_overlap,
    fitted_tile,
    pad_to_multiple,
    tile_apply,
    tile_apply_adaptive,
    tile_origins,
)

EIGHT_BIT = 1 / 255
EXACT = 1e-5  # float rounding only; far inside the one-8-bit-level contract


class Upsampler(nn.Module):
    """A tile-exact ×scale test model: 3x3 conv to C·s² channels + pixel shuffle (radius 1)."""

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.tiling = TilingContract(scale=scale, size_multiple=1, receptive_radius=1, tile_exact=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.shuffle(self.conv(x))


def whole(model: nn.Module, image: Tensor, contract: TilingContract) -> Tensor:
    """The reference: the model on the whole (size-multiple padded) image, cropped back."""
    h, w = image.shape[-2:]
    with torch.inference_mode():
        out = model(pad_to_multiple(image[None], contract.size_multiple))[0]
    return out[:, : h * contract.scale, : w * contract.scale]


def tiled(model: nn.Module, image: Tensor, contract: TilingContract, tile: int, overlap: int | None = None) -> Tensor:
    return tile_apply(
        model,
        image,
        tile=tile,
        overlap=default_overlap(contract) if overlap is None else overlap,
        scale=contract.scale,
        size_multiple=contract.size_multiple,
        receptive_radius=contract.receptive_radius,
        batch_size=3,
    )


def baked(arch: str, hparams: dict) -> nn.Module:
    torch.manual_seed(0)
    net = build_arch(arch, hparams).eval()
    return bake(net, torch.tensor([0.3, 0.7]))


@pytest.fixture(scope="module")
def tiny_rgb() -> nn.Module:
    return baked("tiny", {"width": 4})


@pytest.mark.parametrize("size", [(37, 53), (101, 67), (5, 3), (1, 1), (24, 24)])
def test_tiny_tiled_equals_whole(tiny_rgb: nn.Module, size: tuple[int, int]) -> None:
    contract = tiny_rgb.tiling
    image = torch.rand(3, *size)
    out = tiled(tiny_rgb, image, contract, tile=default_overlap(contract) + 5)
    assert out.shape == (3, *size)
    assert (out - whole(tiny_rgb, image, contract)).abs().max() < EXACT


def test_gray_model_tiled_equals_whole() -> None:
    model = baked("tiny", {"channels": 1, "width": 4})
    image = torch.rand(1, 59, 83)
    out = tiled(model, image, model.tiling, tile=31)
    assert (out - whole(model, image, model.tiling)).abs().max() < EXACT


@pytest.mark.parametrize("size", [(61, 45), (150, 110), (3, 2), (9, 300)])
def test_unet_size_multiple_4_tiled_equals_whole(size: tuple[int, int]) -> None:
    model = baked("unet", {"widths": [4, 8, 8], "blocks": [1, 1, 1]})
    contract = model.tiling
    assert contract.size_multiple == 4
    image = torch.rand(3, *size)
    out = tiled(model, image, contract, tile=default_overlap(contract) + 8)
    assert out.shape == (3, *size)
    assert (out - whole(model, image, contract)).abs().max() < EXACT


@pytest.mark.parametrize("scale,channels", [(4, 3), (4, 1), (2, 3)])
def test_upscaling_tiled_equals_whole(scale: int, channels: int) -> None:
    torch.manual_seed(1)
    model = Upsampler(channels, scale).eval()
    contract = model.tiling
    for size in [(29, 41), (3, 5)]:
        image = torch.rand(channels, *size)
        out = tiled(model, image, contract, tile=12, overlap=4)
        assert out.shape == (channels, size[0] * scale, size[1] * scale)
        assert (out - whole(model, image, contract)).abs().max() < EXACT


def test_batch_of_images_matches_each_image(tiny_rgb: nn.Module) -> None:
    batch = torch.rand(2, 3, 40, 30)
    out = tiled(tiny_rgb, batch, tiny_rgb.tiling, tile=24)
    for i in range(2):
        assert torch.allclose(out[i], whole(tiny_rgb, batch[i], tiny_rgb.tiling), atol=EXACT)


def test_tile_zero_is_one_whole_call(tiny_rgb: nn.Module) -> None:
    calls: list[tuple[int, ...]] = []

    def model(x: Tensor) -> Tensor:
        calls.append(tuple(x.shape))
        return tiny_rgb(x)

    image = torch.rand(3, 33, 47)
    out = tile_apply(model, image, tile=0, overlap=8)
    assert calls == [(1, 3, 33, 47)]
    assert torch.equal(out, whole(tiny_rgb, image, tiny_rgb.tiling))


def on_grid(multiple: int, *values: int) -> tuple[int, ...]:
    """Each value rounded up to a multiple of ``multiple``, as the tiling engine does."""
    return tuple(-(-v // multiple) * multiple for v in values)


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 80),
    tile=st.integers(1, 40),
    overlap=st.integers(0, 12),
    multiple=st.sampled_from([1, 2, 4, 8]),
)
def test_tile_origins_lie_on_the_grid_and_cover(length: int, tile: int, overlap: int, multiple: int) -> None:
    length, tile, overlap = on_grid(multiple, length, tile, overlap)
    tile = min(tile, length)
    if tile < length and tile <= overlap:
        with pytest.raises(ValueError, match="larger than the overlap"):
            tile_origins(length, tile, overlap, multiple)
        return
    origins = tile_origins(length, tile, overlap, multiple)
    assert origins[0] == 0 and origins[-1] == length - tile
    assert all(o % multiple == 0 for o in origins)
    assert all(b - a >= multiple for a, b in itertools.pairwise(origins))
    assert all(a + tile - b >= overlap for a, b in itertools.pairwise(origins))


@settings(max_examples=80, deadline=None)
@given(
    length=st.integers(1, 400),
    tile=st.integers(1, 200),
    overlap=st.integers(0, 40),
    multiple=st.sampled_from([1, 2, 4, 8]),
)
def test_fitted_tile_is_the_smallest_side_with_as_few_tiles(
    length: int, tile: int, overlap: int, multiple: int
) -> None:
    length, tile, overlap = on_grid(multiple, length, tile, overlap)
    if tile < length and tile <= overlap:
        with pytest.raises(ValueError, match="larger than the overlap"):
            fitted_tile(length, tile, overlap, multiple)
        return
    fitted = fitted_tile(length, tile, overlap, multiple)
    assert fitted <= min(tile, length) and fitted % multiple == 0
    count = len(tile_origins(length, min(tile, length), overlap, multiple))
    assert len(tile_origins(length, fitted, overlap, multiple)) == count
    smaller = fitted - multiple
    if smaller > overlap:  # one step smaller needs more tiles: the side is minimal
        assert len(tile_origins(length, smaller, overlap, multiple)) > count


def test_fitted_tile_trims_the_overlap_of_a_2048_pixel_side() -> None:
    assert fitted_tile(2048, 1024, 88, 4) == 744  # 3 tiles either way
    assert fitted_tile(900, 1024, 88, 4) == 900  # one tile: the whole side


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 70),
    width=st.integers(1, 70),
    tile=st.integers(8, 40),
    overlap=st.integers(0, 7),
    radius=st.integers(0, 6),
    scale=st.sampled_from([1, 2]),
)
def test_blend_weights_are_a_partition_of_unity(
    height: int, width: int, tile: int, overlap: int, radius: int, scale: int
) -> None:
    """With a model that upsamples by repetition, any tiling returns exactly the upsampled input."""
    image = torch.rand(2, height, width)

    def repeat(x: Tensor) -> Tensor:
        return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)

    out = tile_apply(repeat, image, tile=tile, overlap=overlap, scale=scale, receptive_radius=radius)
    assert torch.allclose(out, repeat(image[None])[0], atol=1e-6)


def _seam_step(error: Tensor) -> float:
    """The largest jump of the error between neighbouring pixels (a seam shows as a step)."""
    dx = (error[..., :, 1:] - error[..., :, :-1]).abs().max()
    dy = (error[..., 1:, :] - error[..., :-1, :]).abs().max()
    return float(max(dx, dy))


def test_raised_cosine_hides_seams_of_a_model_that_is_not_tile_exact() -> None:
    """A global operation (tile mean) makes tiles disagree: the blend turns steps into ramps."""

    def global_model(x: Tensor) -> Tensor:
        return x + 0.5 * x.mean(dim=(1, 2, 3), keepdim=True)

    torch.manual_seed(0)
    image = torch.rand(3, 96, 96) * torch.linspace(0, 1, 96)  # tile means differ across the image
    reference = global_model(image[None])[0]
    hard = tile_apply(global_model, image, tile=40, overlap=8, receptive_radius=4)  # ramp 0: a hard cut
    soft = tile_apply(global_model, image, tile=40, overlap=24, receptive_radius=4)  # ramp 16
    hard_step, soft_step = _seam_step(hard - reference), _seam_step(soft - reference)
    assert hard_step > 0.02
    assert soft_step < 0.2 * hard_step


def test_exact_model_has_no_seam_step(tiny_rgb: nn.Module) -> None:
    image = torch.rand(3, 90, 90)
    error = tiled(tiny_rgb, image, tiny_rgb.tiling, tile=30) - whole(tiny_rgb, image, tiny_rgb.tiling)
    assert _seam_step(error) < EXACT


def test_too_small_overlap_is_not_exact_for_a_unet() -> None:
    """Guard of the tests above: without the declared overlap the U-Net's tiles do disagree."""
    model = baked("unet", {"widths": [4, 8, 8], "blocks": [1, 1, 1]})
    image = torch.rand(3, 96, 96)
    out = tiled(model, image, model.tiling, tile=32, overlap=4)
    assert (out - whole(model, image, model.tiling)).abs().max() > EXACT


def test_out_of_memory_halves_the_tile_and_goes_on(tiny_rgb: nn.Module) -> None:
    sides: list[int] = []

    def fussy(x: Tensor) -> Tensor:
        sides.append(x.shape[-1])
        if x.shape[-1] > 30:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return tiny_rgb(x)

    image = torch.rand(3, 100, 100)
    result = tile_apply_adaptive(fussy, image, tile=0, overlap=8, receptive_radius=3, batch_size=2)
    assert result.tile == 25  # 100 → 50 (fitted to 39: too big) → 25 (fitted to 24)
    assert sides[:3] == [100, 100, 39] and sides[3:] == [24] * 36  # 6 × 6 tiles of 24 px, one per batch
    assert (result.image - whole(tiny_rgb, image, tiny_rgb.tiling)).abs().max() < EXACT


def test_out_of_memory_at_the_smallest_tile_is_a_device_error() -> None:
    def hopeless(x: Tensor) -> Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(DeviceError, match=r"^out of memory on cpu even with \d+px tiles"):
        tile_apply_adaptive(hopeless, torch.rand(3, 64, 64), tile=64, overlap=8)


def test_other_runtime_errors_propagate() -> None:
    def broken(x: Tensor) -> Tensor:
        raise RuntimeError("shape mismatch somewhere")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        tile_apply_adaptive(broken, torch.rand(3, 16, 16), tile=0, overlap=0)


def test_wrong_output_size_is_reported() -> None:
    with pytest.raises(ValueError, match="at scale 2"):
        tile_apply(lambda x: x, torch.rand(3, 8, 8), tile=0, overlap=0, scale=2)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(B, C, H, W\)"):
        tile_apply(lambda x: x, torch.rand(8, 8), tile=0, overlap=0)
    with pytest.raises(ValueError, match="larger than the overlap"):
        tile_apply(lambda x: x, torch.rand(1, 64, 64), tile=16, overlap=16)


def test_default_overlap_covers_twice_the_radius_on_the_grid() -> None:
    contract = TilingContract(scale=1, size_multiple=4, receptive_radius=28, tile_exact=True)
    overlap = default_overlap(contract)
    assert overlap >= 2 * 28 and overlap % 4 == 0


def test_auto_tile_on_cpu_is_fixed_and_above_the_overlap(tiny_rgb: nn.Module) -> None:
    contract = TilingContract(scale=1, size_multiple=8, receptive_radius=3, tile_exact=True)
    assert auto_tile(tiny_rgb, contract, 3, device="cpu") == CPU_AUTO_TILE == 512
    # four overlaps when wider, so a wide-reaching model's tiles are not mostly overlap
    assert auto_tile(tiny_rgb, contract, 3, device="cpu", overlap=168) == 672
    assert auto_tile(tiny_rgb, contract, 3, device="cpu", overlap=801) == 3208
    assert auto_tile(tiny_rgb, contract, 3, device="mps") == MPS_AUTO_TILE == 1024


def test_default_batch_is_one_tile_on_a_cpu_and_four_on_a_gpu() -> None:
    assert default_batch_size("cpu") == 1
    assert default_batch_size("cuda:0") == default_batch_size("mps") == 4
