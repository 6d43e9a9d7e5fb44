"""Which part of the full-resolution image a view region is computed from (pure Python).

A tile-exact network (SPEC §8) gives an output pixel that depends only on the input within its
``receptive_radius``, provided the crop it runs on starts on the model's ``size_multiple`` grid
(a network that downsamples is shift-equivariant only on that grid) and, where the crop reaches
the image's border, keeps that border (the engine pads the image there the same way). A region
run on :func:`context_crop` of the image therefore equals that region of the whole image's
output, up to float rounding — the tiling engine's own argument, one crop instead of many tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunecli.errors import UsageError

#: The largest region one render request may ask for, in input pixels.
MAX_REGION_PIXELS = 16 * 1024 * 1024


@dataclass(frozen=True)
class Region:
    """A rectangle of the input image in pixels: left ``x``, top ``y``, ``width`` × ``height``."""

    x: int
    y: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def within(self, outer: Region) -> Region:
        """This region in the coordinates of ``outer`` (which contains it)."""
        return Region(self.x - outer.x, self.y - outer.y, self.width, self.height)


def checked_region(x: int, y: int, width: int, height: int, image_width: int, image_height: int) -> Region:
    """The region ``(x, y, width, height)`` if it lies inside an ``image_width`` × ``image_height``
    image and is at most :data:`MAX_REGION_PIXELS`; else a one-line
    :class:`~tunecli.errors.UsageError`."""
    if width < 1 or height < 1:
        raise UsageError(f"region {width}x{height} is empty")
    if x < 0 or y < 0 or x + width > image_width or y + height > image_height:
        raise UsageError(f"region {width}x{height} at ({x}, {y}) is not inside the {image_width}x{image_height} image")
    if width * height > MAX_REGION_PIXELS:
        raise UsageError(f"region {width}x{height} is larger than {MAX_REGION_PIXELS} pixels; ask for a smaller one")
    return Region(x, y, width, height)


def context_crop(region: Region, image_width: int, image_height: int, radius: int, multiple: int) -> Region:
    """The crop of the image that ``region`` is computed from: ``region`` widened by ``radius``
    on every side, its left and top edges moved down to a multiple of ``multiple``, clipped to
    the image (so a crop that reaches a border keeps it)."""
    if radius < 0 or multiple < 1:
        raise ValueError("radius must be >= 0 and multiple >= 1")
    left = max(0, region.x - radius) // multiple * multiple
    top = max(0, region.y - radius) // multiple * multiple
    right = min(image_width, region.x + region.width + radius)
    bottom = min(image_height, region.y + region.height + radius)
    return Region(left, top, right - left, bottom - top)
