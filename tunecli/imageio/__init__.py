"""The one image reader and writer of tunecli (SPEC §4).

``read_image`` turns a PNG, JPEG, WebP, BMP or TIFF file into an :class:`Image` — float32
pixels ``(H, W, 1|3)`` in [0, 1] (float TIFF: as stored), a separate alpha plane, and the
metadata to write back (format, stored sample type, ICC profile, EXIF, notices);
``write_image`` writes one atomically, keeping what the output format can hold.

Libraries: Pillow decodes/encodes every layout it holds exactly and all metadata; pypng handles
16-bit PNG with colour or alpha and tifffile 16-bit/float TIFF with colour or alpha, which Pillow
would narrow to 8 bits. No torch here.
"""

from tunecli.imageio.formats import (
    FORMATS,
    SUPPORTED_SUFFIXES,
    FileFormat,
    canonical_format,
    format_for_suffix,
    is_image_path,
    output_suffix,
)
from tunecli.imageio.image import DEFAULT_MAX_PIXELS, Image, ImageMeta, float_to_samples, samples_to_float
from tunecli.imageio.reading import read_image, read_rgb
from tunecli.imageio.writing import write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "SUPPORTED_SUFFIXES",
    "FileFormat",
    "Image",
    "ImageMeta",
    "canonical_format",
    "float_to_samples",
    "format_for_suffix",
    "is_image_path",
    "output_suffix",
    "read_image",
    "read_rgb",
    "samples_to_float",
    "write_image",
]
