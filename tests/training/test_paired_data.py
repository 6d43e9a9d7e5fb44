"""Reference images paired with the training images (a task's :class:`~tunecli.tasks.Pairing`):
stacked onto the image, cut, flipped and rotated with it, crop offsets on the pairing's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tunecli.errors import UsageError
from tunecli.training.data import ImageFolder, sample_batch


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """uint8 RGB: red the row index, green the column index (a crop's place and orientation can be
    read off them), blue random."""
    rows, cols = np.mgrid[0:height, 0:width]
    blue = np.random.default_rng(seed).integers(0, 256, (height, width))
    return np.stack([rows, cols, blue], axis=2).astype(np.uint8)


def orientation(crop: np.ndarray) -> tuple[int, ...]:
    """Which of the 8 flips/rotations a ``texture`` crop ``(3, h, w)`` was cut in: the directions
    in which its row and column indices grow."""
    rows, cols = crop[0].astype(int), crop[1].astype(int)
    return (
        int(np.sign(rows[1, 0] - rows[0, 0])),
        int(np.sign(rows[0, 1] - rows[0, 0])),
        int(np.sign(cols[1, 0] - cols[0, 0])),
        int(np.sign(cols[0, 1] - cols[0, 0])),
    )


def inverted(image: np.ndarray) -> np.ndarray:
    """The reference of the tests: the image inverted, its channels reversed (a per-pixel map)."""
    return 255 - image[..., ::-1]


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def paired(tmp_path: Path) -> tuple[list[Path], list[Path], list[np.ndarray]]:
    """Three images of sizes that are not multiples of 4 and their references, each made of the
    image cropped to a multiple of 4 (as the upscale teacher's outputs are)."""
    images = [texture(42, 50, 0), texture(45, 39, 1), texture(40, 40, 2)]
    files = [write(tmp_path / "data" / f"{i}.png", image) for i, image in enumerate(images)]
    references = [
        write(
            tmp_path / "references" / f"{i}.png", inverted(image[: image.shape[0] // 4 * 4, : image.shape[1] // 4 * 4])
        )
        for i, image in enumerate(images)
    ]
    return files, references, images


def test_an_item_is_the_image_cropped_to_its_reference_with_the_reference_stacked(paired: tuple) -> None:
    files, references, images = paired
    folder = ImageFolder(files, references=references, grid=4)
    for i, image in enumerate(images):
        h, w = image.shape[0] // 4 * 4, image.shape[1] // 4 * 4
        item = folder[i]
        assert item.shape == (h, w, 6) and item.dtype == np.uint8
        assert np.array_equal(item[..., :3], image[:h, :w])
        assert np.array_equal(item[..., 3:], inverted(image[:h, :w]))
    plain = ImageFolder(files)  # without references: the images as they are
    assert all(np.array_equal(plain[i], image) for i, image in enumerate(images))


def test_reference_crops_move_with_the_image_crops(paired: tuple) -> None:
    files, references, _ = paired
    folder = ImageFolder(files, references=references, grid=4)
    orientations = set()
    for step in range(40):
        crops = sample_batch(folder, 4, 16, seed=3, step=step, grid=4)
        assert crops.shape == (4, 6, 16, 16) and crops.dtype == np.float32
        clean, reference = np.round(crops[:, :3] * 255), np.round(crops[:, 3:] * 255)
        assert np.array_equal(reference, 255 - clean[:, ::-1])
        orientations.update(orientation(crop) for crop in clean)
    assert len(orientations) == 8  # every flip and rotation was drawn, and the references followed


def test_crop_offsets_lie_on_the_grid() -> None:
    rows, cols = np.mgrid[0:61, 0:57]
    coordinates = np.stack([rows, cols, np.zeros_like(rows)], axis=2).astype(np.uint8)
    starts = {1: set(), 4: set()}
    for grid, seen in starts.items():
        for step in range(60):
            crops = np.round(sample_batch([coordinates], 2, 16, seed=0, step=step, grid=grid) * 255)
            for crop in crops:  # the smallest row and column index in a crop is its offset, in any orientation
                seen.add((int(crop[0].min()), int(crop[1].min())))
                assert crop[0].max() - crop[0].min() == 15 and crop[1].max() - crop[1].min() == 15
    assert all(top % 4 == 0 and left % 4 == 0 for top, left in starts[4])
    assert max(top for top, _ in starts[4]) <= 61 - 16 and max(left for _, left in starts[4]) <= 57 - 16
    assert any(top % 4 or left % 4 for top, left in starts[1])  # grid 1: any offset


def test_a_reference_of_another_size_is_refused_in_one_line(tmp_path: Path) -> None:
    image = texture(40, 48, 0)
    file = write(tmp_path / "a.png", image)
    for wrong in (image[:32], texture(40, 52, 1)):  # too short; too wide
        reference = write(tmp_path / "ref.png", wrong)
        with pytest.raises(UsageError) as caught:
            ImageFolder([file], references=[reference], grid=4)[0]
        h, w = wrong.shape[:2]
        assert str(caught.value) == f"{reference} is {w}x{h}: not the size of a.png (48x40) cropped to a multiple of 4"
    with pytest.raises(ValueError, match="1 reference files for 2 training files"):
        ImageFolder([file, file], references=[file])
