"""Image arrays ↔ batch tensors: layout, dtype, views and the errors at the door."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tunecli.tensors import batch_to_image, image_to_batch


def test_round_trip_puts_channels_second_without_copying() -> None:
    pixels = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    batch = image_to_batch(pixels)
    assert batch.shape == (1, 3, 5, 7)
    assert batch.dtype == torch.float32
    assert torch.equal(batch[0, 2], torch.from_numpy(pixels[:, :, 2].copy()))
    assert np.shares_memory(batch.numpy(), pixels)  # a view: a large image is not copied
    back = batch_to_image(batch)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, pixels)
    assert np.shares_memory(back, pixels)


def test_other_floats_and_strided_arrays_become_float32_copies() -> None:
    pixels = np.random.default_rng(1).random((6, 4, 1))  # float64
    batch = image_to_batch(pixels)
    assert batch.dtype == torch.float32
    assert torch.equal(batch, torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None].float())
    flipped = pixels.astype(np.float32)[::-1]
    assert torch.equal(image_to_batch(flipped)[0, 0], torch.from_numpy(flipped[:, :, 0].copy()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((4, 4), np.float32), r"float \(H, W, C\) array, got shape \(4, 4\) \(float32\)"),
        (np.zeros((4, 4, 3), np.uint8), r"float \(H, W, C\) array, got shape \(4, 4, 3\) \(uint8\)"),
        (torch.zeros(4, 4, 3), r"float \(H, W, C\) array, got Tensor"),
    ],
)
def test_image_to_batch_refuses_what_is_not_a_float_image(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^image_to_batch needs a {message}$"):
        image_to_batch(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (3, 4, 4)])
def test_batch_to_image_needs_a_batch_of_one(shape: tuple[int, ...]) -> None:
    message = f"batch_to_image needs a batch of one image (1, C, H, W), got shape {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        batch_to_image(torch.zeros(shape))
