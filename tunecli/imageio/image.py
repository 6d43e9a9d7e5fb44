"""The in-memory image: float pixels in a working range, a separate alpha plane, and metadata.

Stored samples map to the float working range by their type: ``uint8`` / 255, ``uint16`` / 65535
(so [0, 1]); ``float32`` samples (float TIFF) are kept as stored. Going back, integer samples are
rounded to nearest and clipped to their range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Pillow's own default for Image.MAX_IMAGE_PIXELS (about 89.5 megapixels), above which it treats
# an image as a possible decompression bomb.
DEFAULT_MAX_PIXELS = 89_478_485

_FULL_SCALE = {"uint8": 255.0, "uint16": 65535.0}
_EXIF_PREFIX = b"Exif\x00\x00"
SAMPLE_TYPES = ("uint8", "uint16", "float32")


@dataclass
class ImageMeta:
    """What a file said beyond its pixels, to be written back.

    ``format``: ``png`` | ``jpeg`` | ``webp`` | ``bmp`` | ``tiff``; ``dtype``: the stored sample
    type (``uint8`` | ``uint16`` | ``float32``); ``mode``: ``L`` | ``LA`` | ``RGB`` | ``RGBA`` after
    any conversion on reading (palette, CMYK, 1-bit...), each such conversion explained by a line
    in ``notices``. ``icc_profile``: the ICC profile bytes; ``exif``: the EXIF block as in a JPEG
    APP1 segment (``b"Exif\\0\\0"`` + TIFF-structured data), kept intact (orientation included).
    ``extra``: optional details — ``dpi`` (x, y), ``png_text`` {key: text}, ``webp_lossless``,
    ``jpeg_progressive`` (bool) and ``jpeg_subsampling`` (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0).
    """

    format: str
    dtype: str
    mode: str
    icc_profile: bytes | None = None
    exif: bytes | None = None
    notices: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Image:
    """An image in the working range.

    ``pixels``: float32 ``(H, W, C)``, C = 1 (gray) or 3 (RGB), in [0, 1] (float TIFF: values as
    stored, always finite). ``alpha``: float32 ``(H, W)`` in [0, 1] or None; it is carried around
    a model, never through it.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    meta: ImageMeta

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def samples_to_float(samples: np.ndarray) -> np.ndarray:
    """Stored samples → float32 working values: uint8 / 255, uint16 / 65535, floats as they are."""
    if samples.dtype == np.uint8 or samples.dtype == np.uint16:
        return samples.astype(np.float32) / np.float32(_FULL_SCALE[str(samples.dtype)])
    return samples.astype(np.float32, copy=False)


def float_to_samples(values: np.ndarray, dtype: str) -> np.ndarray:
    """Float working values → stored samples of ``dtype``, rounded to nearest and clipped.

    ``dtype`` ``float32`` returns the values as float32 unchanged.
    """
    if dtype == "float32":
        return values.astype(np.float32, copy=False)
    top = _FULL_SCALE[dtype]
    scaled = np.rint(values.astype(np.float32, copy=False) * np.float32(top))
    return np.clip(scaled, 0.0, top).astype(dtype)


def exif_block(exif: bytes | None) -> bytes | None:
    """EXIF as in a JPEG APP1 segment: ``Exif\\0\\0`` then TIFF-structured data (WebP chunks often
    omit the prefix); None for no or empty EXIF."""
    if not exif:
        return None
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif
