"""A view region rendered from its context crop equals that region of the whole image's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tune_support import SessionFactory, write_photo

from tunecli.errors import UsageError
from tunecli.tune.regions import MAX_REGION_PIXELS, Region, checked_region, context_crop


def test_context_crop_widens_aligns_and_clips() -> None:
    crop = context_crop(Region(50, 40, 20, 10), 200, 100, radius=9, multiple=4)
    assert crop == Region(40, 28, 39, 31)  # left 41 -> 40, top 31 -> 28 (multiples of 4)
    assert crop.x % 4 == 0 and crop.y % 4 == 0
    assert crop.x <= 50 - 9 and crop.x + crop.width >= 70 + 9
    # at the borders the crop keeps them
    assert context_crop(Region(3, 2, 10, 10), 40, 30, radius=9, multiple=4) == Region(0, 0, 22, 21)
    assert context_crop(Region(30, 20, 10, 10), 40, 30, radius=9, multiple=4) == Region(20, 8, 20, 22)
    assert Region(30, 20, 10, 10).within(Region(20, 8, 20, 22)) == Region(10, 12, 10, 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0, 0, 5), "region 0x5 is empty"),
        ((-1, 0, 5, 5), "region 5x5 at (-1, 0) is not inside the 96x64 image"),
        ((90, 0, 7, 5), "region 7x5 at (90, 0) is not inside the 96x64 image"),
    ],
)
def test_checked_region_refuses_in_one_line(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        checked_region(*args, 96, 64)
    assert str(caught.value) == message
    with pytest.raises(UsageError, match="larger than"):
        checked_region(0, 0, 8192, 4096, 8192, 4096 + 1)
    assert 8192 * 4096 > MAX_REGION_PIXELS


REGIONS = [
    Region(0, 0, 96, 64),
    Region(13, 7, 30, 21),
    Region(61, 37, 35, 27),
    Region(0, 50, 17, 14),
    Region(95, 63, 1, 1),
]


@pytest.mark.parametrize("task", ["denoise", "deblur", "upscale", "style"])
def test_regions_equal_the_whole_images_output(make_session: SessionFactory, task: str) -> None:
    session = make_session(task)
    restorer = session.restorer
    space = restorer.alpha_space
    omega = space.default
    whole = restorer.restore(session.image, omega).image.pixels
    s = restorer.scale
    for region in REGIONS:
        part = session.render(omega, region)
        expected = whole[region.y * s : (region.y + region.height) * s, region.x * s : (region.x + region.width) * s]
        assert part.shape == expected.shape
        np.testing.assert_allclose(part, expected, atol=2e-5, err_msg=f"{task} {region}")


@pytest.mark.slow
def test_regions_of_the_shipped_denoiser_equal_its_file_run(make_session: SessionFactory, tmp_path: Path) -> None:
    """The shipped U-Net (size multiple 4, radius 36) on regions off its grid, through the
    public API exactly as ``tunecli denoise`` runs it (512 px tiles on a CPU)."""
    from tunecli.api import load
    from tunecli.imageio import read_image
    from tunecli.tune.command import CommandLine
    from tunecli.tune.session import TuneSession

    image_path = write_photo(tmp_path / "wide.png", width=600, height=90)
    restorer = load("denoise-unet", device="cpu")
    session = TuneSession(restorer, read_image(image_path), CommandLine("denoise", image_path), (0.6, 0.4))
    whole = restorer.run(image_path, alpha=0.4).pixels
    for region in (Region(1, 3, 101, 50), Region(250, 17, 99, 73), Region(530, 0, 70, 90)):
        part = session.render((0.6, 0.4), region)
        expected = whole[region.y : region.y + region.height, region.x : region.x + region.width]
        np.testing.assert_allclose(part, expected, atol=2e-5, err_msg=str(region))
