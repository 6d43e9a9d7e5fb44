"""Writing an :class:`~tunecli.imageio.image.Image` to a file, atomically.

Pillow encodes every layout it holds exactly; pypng writes 16-bit PNG with colour or alpha and
tifffile writes 16-bit/float TIFF with colour or alpha (see :mod:`tunecli.imageio.png16` and
:mod:`tunecli.imageio.tiff` for why).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import PIL.Image
import PIL.PngImagePlugin
import png

from tunecli.errors import OutputError
from tunecli.imageio import png16, tiff
from tunecli.imageio.atomic import atomic_output
from tunecli.imageio.formats import FORMATS, FileFormat, canonical_format, format_for_suffix
from tunecli.imageio.image import SAMPLE_TYPES, Image, exif_block, float_to_samples
from tunecli.imageio.remote import Location, RemotePath

DEFAULT_JPEG_QUALITY = 95
DEFAULT_WEBP_QUALITY = 95
# Below this JPEG quality colour is stored at half resolution (4:2:0), at or above it in full (4:4:4).
_FULL_CHROMA_QUALITY = 90

_BIT_DEPTHS = {"auto": None, "8": "uint8", "16": "uint16", "32f": "float32"}
_DEPTH_LABELS = {"uint8": "8-bit", "uint16": "16-bit", "float32": "32-bit float"}
_PILLOW_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF"}
_LOSSY_SOURCES = frozenset({"jpeg"})


def write_image(
    path: str | Location,
    image: Image,
    *,
    format: str | None = None,
    quality: int | None = None,
    bit_depth: str = "auto",
    overwrite: bool = False,
) -> list[str]:
    """Write ``image`` to ``path`` atomically (temporary file in the same folder, then rename; a
    :class:`~tunecli.imageio.remote.RemotePath` is encoded in memory and stored whole).

    ``format``: ``png`` | ``jpeg``/``jpg`` | ``webp`` | ``bmp`` | ``tiff``/``tif``; None (or
    ``same``) takes the format the path's suffix names, else ``image.meta.format``. A suffix
    that names another format is an error. ``quality``: 1–100 for JPEG (default 95) and WebP
    (default: lossless when the source was lossless, else 95); ignored by lossless formats.
    ``bit_depth``: ``auto`` keeps ``meta.dtype`` where the format can hold it (else the deepest
    it can), or ``8`` | ``16`` | ``32f``. The ICC profile, EXIF block, dpi and PNG text of
    ``meta`` are written where the format allows. A JPEG written from a JPEG keeps its
    progressive mode and chroma subsampling (``meta.extra``); otherwise JPEG colour is 4:4:4
    from quality 90 on and 4:2:0 below.

    Returns one-line notices about what the format could not keep (alpha, bit depth, EXIF...).
    Raises :class:`OutputError` (one line naming the file) when the file exists and not
    ``overwrite``, the folder cannot be written, or the format cannot hold the requested bit
    depth. No partial file remains on any error or interruption.
    """
    path = path if isinstance(path, RemotePath) else Path(path)
    fmt = _resolve_format(path, format, image.meta.format)
    pixels, alpha = _checked_planes(path, image)
    notices: list[str] = []
    dtype = _resolve_sample_type(path, fmt, bit_depth, image.meta.dtype, notices)
    if quality is not None and not 1 <= quality <= 100:
        raise OutputError(f"{path}: quality must be between 1 and 100, not {quality}")
    if alpha is not None and not fmt.alpha:
        notices.append(f"{fmt.label} has no alpha channel: alpha dropped")
        alpha = None
    if pixels.shape[2] == 1 and not fmt.gray:
        notices.append(f"{fmt.label} has no gray mode: gray written as RGB")
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2)
    samples = float_to_samples(planes, dtype)
    deep_colour = dtype != "uint8" and samples.shape[2] > 1
    options = _save_options(fmt, image, quality, notices)
    output = (
        path.atomic_output(overwrite=overwrite)
        if isinstance(path, RemotePath)
        else atomic_output(path, overwrite=overwrite)
    )
    try:
        with output as file:
            _encode(file, fmt, samples, pixels.shape[2], deep_colour, options)
    except (OSError, ValueError, struct.error, zlib.error, png.Error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise OutputError(f"{path}: could not write the {fmt.label} file ({reason})") from exc
    return notices


def _resolve_format(path: Location, requested: str | None, meta_format: str) -> FileFormat:
    by_suffix = format_for_suffix(path.name)
    if requested is None or requested.strip().lower() == "same":
        name = by_suffix or meta_format
        if name not in FORMATS:
            raise OutputError(f"{path}: cannot tell the output format; name it (png, jpg, webp, bmp or tif)")
        return FORMATS[name]
    try:
        name = canonical_format(requested)
    except OutputError as exc:
        raise OutputError(f"{path}: {exc}") from None
    if by_suffix is not None and by_suffix != name:
        raise OutputError(f"{path}: the suffix {path.suffix} does not match the format {name}")
    return FORMATS[name]


def _checked_planes(path: Location, image: Image) -> tuple[np.ndarray, np.ndarray | None]:
    """``pixels`` as float32 (H, W, 1|3) and ``alpha`` as float32 (H, W) or None, all finite."""
    pixels = np.asarray(image.pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3) or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise OutputError(f"{path}: pixels must be (H, W, 1) or (H, W, 3), not {pixels.shape}")
    alpha = None if image.alpha is None else np.asarray(image.alpha)
    if alpha is not None and alpha.shape != pixels.shape[:2]:
        raise OutputError(f"{path}: alpha shape {alpha.shape} does not match pixels {pixels.shape[:2]}")
    pixels = pixels.astype(np.float32, copy=False)
    alpha = None if alpha is None else alpha.astype(np.float32, copy=False)
    if not np.isfinite(pixels).all() or (alpha is not None and not np.isfinite(alpha).all()):
        raise OutputError(f"{path}: the image holds NaN or infinite values")
    return pixels, alpha


def _resolve_sample_type(path: Location, fmt: FileFormat, bit_depth: str, source: str, notices: list[str]) -> str:
    key = str(bit_depth).strip().lower()
    if key not in _BIT_DEPTHS:
        raise OutputError(f"{path}: unknown bit depth {bit_depth!r} (use auto, 8, 16 or 32f)")
    requested = _BIT_DEPTHS[key]
    if requested is not None:
        if requested not in fmt.dtypes:
            holders = " or ".join(f.label for f in FORMATS.values() if requested in f.dtypes)
            raise OutputError(f"{path}: {fmt.label} cannot hold {_DEPTH_LABELS[requested]} samples (use {holders})")
        return requested
    if source not in SAMPLE_TYPES:
        source = "uint8"
    if source in fmt.dtypes:
        return source
    rank = SAMPLE_TYPES.index
    chosen = max((d for d in fmt.dtypes if rank(d) <= rank(source)), key=rank)
    notices.append(
        f"{fmt.label} holds at most {_DEPTH_LABELS[fmt.dtypes[-1]]} samples: written as {_DEPTH_LABELS[chosen]}"
    )
    return chosen


def _save_options(fmt: FileFormat, image: Image, quality: int | None, notices: list[str]) -> dict[str, Any]:
    """Pillow save keywords for ``fmt`` (also read by the pypng and tifffile writers)."""
    meta = image.meta
    options: dict[str, Any] = {}
    if meta.icc_profile:
        if fmt.icc:
            options["icc_profile"] = meta.icc_profile
        else:
            notices.append(f"{fmt.label} cannot hold an ICC profile: profile dropped")
    if meta.exif:
        if fmt.exif:
            options["exif"] = exif_block(meta.exif)
        else:
            notices.append(f"{fmt.label} cannot hold EXIF: EXIF dropped")
    dpi = meta.extra.get("dpi")
    if dpi and fmt.name != "webp":
        options["dpi"] = tuple(float(v) for v in dpi)
    if fmt.name == "png" and meta.extra.get("png_text"):
        info = PIL.PngImagePlugin.PngInfo()
        for key, value in meta.extra["png_text"].items():
            info.add_text(str(key), value)
        options["pnginfo"] = info
    if fmt.name == "jpeg":
        options["quality"] = quality if quality is not None else DEFAULT_JPEG_QUALITY
        # a JPEG input's own encoding (see ImageMeta.extra) wins over the quality's choice
        source_sampling = meta.extra.get("jpeg_subsampling")
        if source_sampling is not None:
            options["subsampling"] = source_sampling
        else:
            options["subsampling"] = 0 if options["quality"] >= _FULL_CHROMA_QUALITY else 2
        if meta.extra.get("jpeg_progressive"):
            options["progressive"] = True
    if fmt.name == "webp":
        source_lossless = meta.extra.get("webp_lossless", meta.format not in _LOSSY_SOURCES | {"webp"})
        if quality is None and source_lossless:
            options.update(lossless=True, exact=True)
        else:
            options.update(quality=quality if quality is not None else DEFAULT_WEBP_QUALITY, exact=True)
    return options


def _encode(
    file: BinaryIO, fmt: FileFormat, samples: np.ndarray, colour: int, deep_colour: bool, options: dict[str, Any]
) -> None:
    if deep_colour and fmt.name == "png":
        png16.write_png16(file, samples, png16.metadata_chunks(options))
    elif deep_colour or (fmt.name == "tiff" and "exif" in options):
        # Pillow's TIFF writer leaves the EXIF interoperability directory at a stale offset
        tiff.write_tiff(file, samples, colour, options)
    else:
        _pillow_image(samples).save(file, format=_PILLOW_NAMES[fmt.name], **options)


def _pillow_image(samples: np.ndarray) -> PIL.Image.Image:
    """A Pillow image of ``(H, W, K)`` samples: uint8 K = 1–4, or uint16 / float32 with K = 1."""
    if samples.shape[2] == 1:
        return PIL.Image.fromarray(np.ascontiguousarray(samples[:, :, 0]))
    return PIL.Image.fromarray(np.ascontiguousarray(samples))
