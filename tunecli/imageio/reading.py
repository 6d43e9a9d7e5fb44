"""Reading any supported image file into an :class:`~tunecli.imageio.image.Image`.

Pillow identifies the file, guards against decompression bombs, decodes every layout it holds
exactly and reads all metadata; pypng (16-bit colour PNG) and tifffile (16-bit/float colour
TIFF) decode the samples Pillow would narrow. Every failure is an :class:`InputImageError`
whose one-line message starts with the file's path. The input file is only ever opened for
reading; a file named by URI (:class:`~tunecli.imageio.remote.RemotePath`) is fetched once and
decoded from memory by the same steps.
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import PIL.Image
import PIL.JpegImagePlugin
import png
import tifffile
from PIL import ImageCms

from tunecli.errors import InputImageError, one_line
from tunecli.imageio import png16, tiff
from tunecli.imageio.formats import FORMATS
from tunecli.imageio.image import DEFAULT_MAX_PIXELS, Image, ImageMeta, exif_block, samples_to_float
from tunecli.imageio.remote import Location, RemotePath

# Pillow's format names → ours. MPO is the multi-picture JPEG many cameras write.
_PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff"}
_MODE_NAMES = {(1, False): "L", (1, True): "LA", (3, False): "RGB", (3, True): "RGBA"}
_ORIENTATION_TAG = 274
# The inverse of each EXIF orientation's correction (PIL.ImageOps.exif_transpose).
_UNDO_ORIENTATION = {
    2: PIL.Image.Transpose.FLIP_LEFT_RIGHT,
    3: PIL.Image.Transpose.ROTATE_180,
    4: PIL.Image.Transpose.FLIP_TOP_BOTTOM,
    5: PIL.Image.Transpose.TRANSPOSE,
    6: PIL.Image.Transpose.ROTATE_90,
    7: PIL.Image.Transpose.TRANSVERSE,
    8: PIL.Image.Transpose.ROTATE_270,
}
# What decoders raise on damaged data (besides OSError, which covers Pillow's truncation errors).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, zlib.error, png.Error)

# Guards changes to Pillow's global decompression-bomb limit (see _pillow_limit_at_least).
_PILLOW_LIMIT_LOCK = threading.Lock()


def read_image(path: str | Location, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Read an image file (PNG, JPEG, WebP, BMP or TIFF) into the float working range.

    ``path``: a local file, or a :class:`~tunecli.imageio.remote.RemotePath` (read whole into
    memory, then decoded alike). Palette, CMYK, 1-bit and colour-keyed images are converted (``meta.notices`` says how);
    pixels stay in stored orientation (EXIF orientation is not applied; EXIF is kept intact).
    ``max_pixels``: refuse images with more pixels than this before decoding them
    (decompression-bomb guard); None disables the guard.
    Raises :class:`InputImageError` with a one-line message starting with the path.
    """
    source: Path | bytes
    if isinstance(path, RemotePath):
        source = path.read_bytes()
        header = source[:32]
    else:
        path = source = Path(path)
        header = _read_header(path)
    if tiff.is_tiff(header):
        try:
            with _opened(source) as file:
                layout = tiff.inspect_tiff(file)
        except (tifffile.TiffFileError, *_DECODE_ERRORS) as exc:
            raise InputImageError(f"{path}: damaged TIFF file ({one_line(exc)})") from exc
        _check_pixel_count(path, layout.width, layout.height, max_pixels)
        if not layout.pillow_exact:
            return _read_deep_tiff(path, source, layout)
    return _read_with_pillow(path, source, header, max_pixels)


def read_rgb(path: str | Path) -> np.ndarray:
    """One image as RGB float32 ``(H, W, 3)`` in [0, 1] (gray replicated, alpha dropped), as
    training and evaluation read their images; raises as :func:`read_image` does."""
    pixels = read_image(path).pixels
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


@contextmanager
def _opened(source: Path | bytes) -> Iterator[BinaryIO]:
    """A stream over the file being read, from its start: the local file opened anew, or the
    fetched bytes of a remote one (each decoder reads the file on its own)."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with source.open("rb") as file:
            yield file


def _read_header(path: Path) -> bytes:
    """The first bytes of a readable, non-empty regular file."""
    if not path.exists():
        raise InputImageError(f"{path}: no such file")
    if path.is_dir():
        raise InputImageError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise InputImageError(f"{path}: not a regular file")
    try:
        with path.open("rb") as file:
            header = file.read(32)
    except OSError as exc:
        raise InputImageError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if not header:
        raise InputImageError(f"{path}: empty file (0 bytes)")
    return header


def _check_pixel_count(path: Location, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise InputImageError(
            f"{path}: {width}x{height} image has {width * height:,} pixels, above the limit of {max_pixels:,} "
            "(decompression-bomb guard); raise the limit with --max-pixels if you trust this file"
        )


@contextmanager
def _pillow_limit_at_least(max_pixels: int | None) -> Iterator[None]:
    """Let Pillow open and decode images up to ``max_pixels`` (None: any size).

    Pillow keeps its decompression-bomb limit in a module global, checked when it opens a file
    and again when it decodes some (TIFF). tunecli checks the exact limit itself before decoding,
    so the global is only raised, under a lock and for the duration, when the caller allows more
    than Pillow does; otherwise Pillow's own guard stays as it is.
    """
    current = PIL.Image.MAX_IMAGE_PIXELS
    if current is None or (max_pixels is not None and max_pixels <= current):
        yield
        return
    with _PILLOW_LIMIT_LOCK:
        saved = PIL.Image.MAX_IMAGE_PIXELS
        PIL.Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            PIL.Image.MAX_IMAGE_PIXELS = saved


def _bomb_error(path: Location, max_pixels: int | None) -> InputImageError:
    limit = f"{max_pixels:,}" if max_pixels is not None else f"{PIL.Image.MAX_IMAGE_PIXELS:,}"
    return InputImageError(
        f"{path}: image is larger than the limit of {limit} pixels "
        "(decompression-bomb guard); raise the limit with --max-pixels if you trust this file"
    )


def _open_with_pillow(path: Location, file: BinaryIO, max_pixels: int | None) -> PIL.Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it; the exact limit is checked right after.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            return PIL.Image.open(file)
    except PIL.Image.DecompressionBombError as exc:
        raise _bomb_error(path, max_pixels) from exc
    except PIL.UnidentifiedImageError as exc:
        raise InputImageError(f"{path}: not a PNG, JPEG, WebP, BMP or TIFF image") from exc
    except _DECODE_ERRORS as exc:
        raise InputImageError(f"{path}: damaged image file ({one_line(exc)})") from exc


def _read_with_pillow(path: Location, source: Path | bytes, header: bytes, max_pixels: int | None) -> Image:
    with _opened(source) as file, _pillow_limit_at_least(max_pixels), _open_with_pillow(path, file, max_pixels) as im:
        fmt = _PILLOW_FORMATS.get(im.format or "")
        if fmt is None:
            raise InputImageError(
                f"{path}: {im.format} images are not supported (tunecli reads PNG, JPEG, WebP, BMP and TIFF)"
            )
        label = FORMATS[fmt].label
        width, height = im.size
        _check_pixel_count(path, width, height, max_pixels)
        notices: list[str] = []
        frames = int(getattr(im, "n_frames", 1))
        if frames > 1:
            notices.append(f"{label} holds {frames} frames or pages; only the first is read")
        try:
            orientation = im.getexif().get(_ORIENTATION_TAG) if fmt == "tiff" else None
            im.load()
            pixel_source = _pillow_exact_mode(path, _stored_orientation(im, orientation), notices)
            icc = pixel_source.info.get("icc_profile") or None
            if fmt == "png" and png16.needs_pypng(header):
                with _opened(source) as png_file:
                    samples = png16.read_png16(png_file)
            else:
                samples = np.asarray(pixel_source)
                samples = samples.astype(samples.dtype.newbyteorder("="), copy=False)  # I;16B: native order
                if samples.ndim == 2:
                    samples = samples[:, :, None]
            samples = _apply_colour_key(samples, im.info.get("transparency"), pixel_source.mode, notices)
            extra: dict[str, object] = {}
            if im.info.get("dpi"):
                extra["dpi"] = tuple(float(v) for v in im.info["dpi"])
            if fmt == "tiff":
                with _opened(source) as tiff_file:
                    exif = tiff.tiff_metadata(tiff.read_tiff_ifd0(tiff_file)).exif
            else:
                exif = exif_block(im.info.get("exif"))
            if fmt == "png" and getattr(im, "text", None):
                extra["png_text"] = dict(im.text)
            if fmt == "webp":
                with _opened(source) as webp_file:
                    extra["webp_lossless"] = _webp_is_lossless(webp_file)
            if fmt == "jpeg":
                extra.update(_jpeg_encoding(im))
        except InputImageError:
            raise
        except PIL.Image.DecompressionBombError as exc:
            raise _bomb_error(path, max_pixels) from exc
        except _DECODE_ERRORS as exc:
            raise InputImageError(f"{path}: damaged or truncated {label} file ({one_line(exc)})") from exc
    colour_channels = 1 if samples.shape[2] <= 2 else 3
    return _to_image(path, samples, colour_channels, False, ImageMeta(fmt, "", "", icc, exif, notices, extra))


def _stored_orientation(im: PIL.Image.Image, orientation: object) -> PIL.Image.Image:
    """Undo the EXIF orientation Pillow applies when it loads a TIFF (it then drops the tag)."""
    undo = _UNDO_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    if undo is None or _ORIENTATION_TAG in getattr(im, "tag_v2", {}):
        return im
    return im.transpose(undo)


def _pillow_exact_mode(path: Location, im: PIL.Image.Image, notices: list[str]) -> PIL.Image.Image:
    """The image in a mode whose samples numpy reads directly (L, LA, RGB, RGBA, F, and I;16
    in either byte order: Pillow's conversion from I;16B clips to 255, numpy reads it exactly)."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return im
    if mode == "1":
        notices.append("1-bit image converted to 8-bit gray")
        return im.convert("L")
    if mode in ("P", "PA"):
        target = "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
        notices.append(f"palette image converted to {target}")
        return im.convert(target)
    if mode == "CMYK":
        return _cmyk_to_rgb(im, notices)
    if mode in ("RGBX", "YCbCr"):
        return im.convert("RGB")
    if mode in ("RGBa", "La"):
        notices.append("premultiplied alpha converted to straight alpha")
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    raise InputImageError(f"{path}: unsupported pixel mode {mode}")


def _cmyk_to_rgb(im: PIL.Image.Image, notices: list[str]) -> PIL.Image.Image:
    """CMYK → RGB through the file's ICC profile (output tagged sRGB), else Pillow's plain formula.

    The CMYK profile never travels to the RGB result: the returned image's ``info`` holds the
    profile that describes it (sRGB) or none.
    """
    icc = im.info.get("icc_profile")
    if icc:
        try:
            srgb = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            rgb = None
        if rgb is not None:
            rgb.info["icc_profile"] = ImageCms.ImageCmsProfile(srgb).tobytes()
            notices.append("converted CMYK to RGB through its ICC profile (output tagged sRGB)")
            return rgb
    notices.append("converted CMYK to RGB (no usable ICC profile: colours are approximate)")
    rgb = im.convert("RGB")
    rgb.info.pop("icc_profile", None)
    return rgb


def _apply_colour_key(samples: np.ndarray, key: object, mode: str, notices: list[str]) -> np.ndarray:
    """Turn a PNG colour key (tRNS for gray or RGB) into an alpha plane: 0 where it matches."""
    if key is None or samples.shape[2] not in (1, 3) or mode not in ("L", "RGB", "I;16"):
        return samples
    if isinstance(key, bytes):
        return samples
    key_values = np.asarray(key, dtype=np.int64).reshape(-1)
    if key_values.size != samples.shape[2]:
        return samples
    opaque = np.any(samples != key_values.astype(samples.dtype), axis=2)
    alpha = np.where(opaque, np.iinfo(samples.dtype).max, 0).astype(samples.dtype)
    notices.append("transparent colour key converted to an alpha channel")
    return np.concatenate([samples, alpha[:, :, None]], axis=2)


def _jpeg_encoding(im: PIL.Image.Image) -> dict[str, object]:
    """How a JPEG was encoded, to encode its output alike: ``jpeg_progressive`` (bool) and, for
    three-component files, ``jpeg_subsampling`` in Pillow's numbering (0 = 4:4:4, 1 = 4:2:2,
    2 = 4:2:0); other layouts Pillow cannot name are left to the writer's default."""
    encoding: dict[str, object] = {"jpeg_progressive": bool(im.info.get("progressive") or im.info.get("progression"))}
    sampling = PIL.JpegImagePlugin.get_sampling(im)
    if sampling >= 0:
        encoding["jpeg_subsampling"] = sampling
    return encoding


def _webp_is_lossless(file: BinaryIO) -> bool:
    """True when the WebP's image data is a VP8L (lossless) bitstream rather than VP8 (lossy)."""
    file.seek(12)
    while True:
        chunk = file.read(8)
        if len(chunk) < 8:
            return False
        kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
        if kind == b"ANMF":  # animated: the first frame's chunks follow a 16-byte frame header
            file.seek(16, io.SEEK_CUR)
            continue
        file.seek(size + (size & 1), io.SEEK_CUR)


def _read_deep_tiff(path: Location, source: Path | bytes, layout: tiff.TiffLayout) -> Image:
    try:
        with _opened(source) as file:
            deep = tiff.read_deep_tiff(path, file, layout)
        with _opened(source) as file:
            metadata = tiff.tiff_metadata(tiff.read_tiff_ifd0(file))
    except (tifffile.TiffFileError, *_DECODE_ERRORS) as exc:
        if "imagecodecs" in str(exc):  # tifffile decodes LZW, JPEG, PackBits... only with imagecodecs
            raise InputImageError(
                f"{path}: reading {layout.compression}-compressed {layout.bits_per_sample}-bit colour TIFF "
                "needs the optional 'imagecodecs' package (pip install imagecodecs)"
            ) from exc
        raise InputImageError(f"{path}: damaged or truncated TIFF file ({one_line(exc)})") from exc
    notices = list(deep.notices)
    if layout.pages > 1:
        notices.insert(0, f"TIFF holds {layout.pages} frames or pages; only the first is read")
    extra: dict[str, object] = {"dpi": metadata.dpi} if metadata.dpi else {}
    meta = ImageMeta("tiff", "", "", metadata.icc_profile, metadata.exif, notices, extra)
    return _to_image(path, deep.samples, deep.colour_channels, deep.premultiplied, meta)


def _to_image(path: Location, samples: np.ndarray, colour_channels: int, premultiplied: bool, meta: ImageMeta) -> Image:
    """Split stored ``(H, W, K)`` samples into float pixels and alpha; fill ``meta.dtype``/``mode``."""
    if samples.dtype.kind == "f":
        samples = samples.astype(np.float32, copy=False)
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        if bad:
            raise InputImageError(
                f"{path}: float TIFF holds {bad:,} NaN or infinite sample(s); tunecli needs finite values"
            )
    values = samples_to_float(samples)
    has_alpha = values.shape[2] > colour_channels
    pixels = np.ascontiguousarray(values[:, :, :colour_channels])
    alpha = np.ascontiguousarray(values[:, :, colour_channels]) if has_alpha else None
    if alpha is not None and premultiplied:
        covered = alpha > 0
        pixels = np.where(covered[:, :, None], pixels / np.where(covered, alpha, 1.0)[:, :, None], 0.0)
        pixels = pixels.astype(np.float32)
        meta.notices.append("premultiplied alpha converted to straight alpha")
    if alpha is not None and samples.dtype == np.float32 and (alpha.min() < 0.0 or alpha.max() > 1.0):
        np.clip(alpha, 0.0, 1.0, out=alpha)
        meta.notices.append("alpha values outside [0, 1] clipped")
    meta.dtype = str(samples.dtype)
    meta.mode = _MODE_NAMES[(colour_channels, has_alpha)]
    return Image(pixels=pixels, alpha=alpha, meta=meta)
