"""Bicubic downscaling: shapes, the antialias filter it really is, Pillow agreement, one path for torch and numpy."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from scipy import ndimage

from tunecli.degradations.resize import (
    crop_to_multiple,
    downscale,
    downscale_array,
    upscale_bicubic,
    upscale_lanczos_array,
)
from tunecli.errors import UsageError


def _pillow(plane: np.ndarray, size: tuple[int, int], method: PIL.Image.Resampling) -> np.ndarray:
    return np.asarray(PIL.Image.fromarray(plane.astype(np.float32)).resize(size, method, reducing_gap=None))


def test_shapes_and_cropping() -> None:
    images = torch.rand(2, 3, 13, 10)
    assert downscale(images, 3).shape == (2, 3, 4, 3)
    assert downscale(images, 1).shape == (2, 3, 13, 10)
    assert upscale_bicubic(images, 2).shape == (2, 3, 26, 20)
    hr = np.random.default_rng(0).random((13, 10, 3)).astype(np.float32)
    gt = crop_to_multiple(hr, 3)
    lr = downscale_array(hr, 3)
    assert gt.shape == (12, 9, 3) and lr.shape == (4, 3, 3) and lr.dtype == np.float32
    np.testing.assert_array_equal(lr, downscale_array(gt, 3))
    assert upscale_lanczos_array(lr, 3).shape == gt.shape
    assert downscale_array(hr[..., 0], 2).shape == (6, 5)
    assert upscale_lanczos_array(hr[..., 0], 2).shape == (26, 20)


def test_numpy_and_torch_paths_are_equal() -> None:
    hr = np.random.default_rng(1).random((24, 18, 3)).astype(np.float32)
    from_torch = downscale(torch.from_numpy(hr).permute(2, 0, 1)[None], 4)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(downscale_array(hr, 4), from_torch)
    np.testing.assert_array_equal(downscale_array(hr[..., 1], 4), from_torch[..., 1])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_constant_stays_constant(scale: int) -> None:
    images = torch.full((1, 2, 24, 36), 0.4)
    assert torch.allclose(downscale(images, scale), torch.full((1, 2, 24 // scale, 36 // scale), 0.4), atol=1e-6)
    assert torch.allclose(upscale_bicubic(images, scale), torch.tensor(0.4), atol=1e-6)
    np.testing.assert_allclose(upscale_lanczos_array(np.full((5, 6, 3), 0.4, np.float32), scale), 0.4, atol=1e-6)


def test_two_by_two_blocks_are_filtered_not_averaged() -> None:
    # Antialiased bicubic by 2 is Keys' cubic (a = -0.5) stretched by 2: on 2x2 blocks its taps
    # sum pairwise to [-3, 20, 222, 20, -3] / 256 per block (not a box average of each block).
    blocks = np.random.default_rng(2).random((10, 12)).astype(np.float64)
    image = np.kron(blocks, np.ones((2, 2)))
    out = downscale(torch.from_numpy(image)[None, None], 2, clip=False)[0, 0].numpy()
    taps = np.array([-3, 20, 222, 20, -3]) / 256
    expected = ndimage.correlate1d(ndimage.correlate1d(blocks, taps, axis=0), taps, axis=1)
    np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-12)
    assert np.abs(out - blocks).max() > 0.02


@pytest.mark.parametrize(("h", "w", "scale"), [(24, 18, 2), (27, 21, 3), (32, 16, 4)])
def test_matches_pillow_float_bicubic(h: int, w: int, scale: int) -> None:
    plane = np.random.default_rng(3).random((h, w)).astype(np.float32)
    ours = downscale_array(plane, scale, clip=False)
    np.testing.assert_allclose(ours, _pillow(plane, (w // scale, h // scale), PIL.Image.Resampling.BICUBIC), atol=1e-5)
    up = upscale_bicubic(torch.from_numpy(plane)[None, None], scale, clip=False)[0, 0].numpy()
    np.testing.assert_allclose(up, _pillow(plane, (w * scale, h * scale), PIL.Image.Resampling.BICUBIC), atol=1e-5)


def test_lanczos_is_pillow_per_channel() -> None:
    image = np.random.default_rng(4).random((7, 9, 3)).astype(np.float32)
    out = upscale_lanczos_array(image, 2, clip=False)
    for c in range(3):
        expected = _pillow(image[..., c], (18, 14), PIL.Image.Resampling.LANCZOS)
        np.testing.assert_array_equal(out[..., c], expected)


def test_values_finite_and_clipped() -> None:
    binary = (np.random.default_rng(5).random((32, 32)) > 0.5).astype(np.float32)
    raw = downscale_array(binary, 2, clip=False)
    assert np.isfinite(raw).all() and raw.min() < 0 and raw.max() > 1  # bicubic overshoots
    clipped = downscale_array(binary, 2)
    np.testing.assert_array_equal(clipped, np.clip(raw, 0, 1))
    up = upscale_bicubic(torch.from_numpy(binary)[None, None], 3)
    assert torch.isfinite(up).all() and float(up.min()) >= 0 and float(up.max()) <= 1


def test_rejects_bad_input() -> None:
    with pytest.raises(UsageError, match="scale must be a positive integer, got 0"):
        downscale(torch.rand(1, 1, 8, 8), 0)
    with pytest.raises(UsageError, match="scale must be a positive integer, got True"):
        downscale_array(np.zeros((8, 8), np.float32), True)
    with pytest.raises(UsageError, match=r"float images \(B, C, H, W\)"):
        downscale(torch.rand(1, 8, 8), 2)
    with pytest.raises(UsageError, match="at least 4x4 pixels, got 3x8"):
        downscale(torch.rand(1, 1, 3, 8), 4)
    with pytest.raises(UsageError, match="needs a float array"):
        downscale_array(np.zeros((8, 8), np.uint8), 2)
    with pytest.raises(UsageError, match=r"\(H, W\) or \(H, W, C\)"):
        crop_to_multiple(np.zeros(8), 2)
