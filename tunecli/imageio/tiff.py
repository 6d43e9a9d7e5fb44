"""TIFF through tifffile: layout inspection, deep colour samples, and TIFF metadata.

Pillow decodes 1–8-bit TIFFs (palette, CMYK, YCbCr, LZW and JPEG compression included) and
16-bit or float gray exactly, so those go through the common Pillow path; big-endian float
gray, which Pillow byte-swaps when compressed, is read with tifffile. Deeper samples with
colour or alpha Pillow narrows to 8 bits or drops channels from, so those are read with
tifffile as well, which keeps every sample (:attr:`TiffLayout.pillow_exact`). They are
written with tifffile too, and so is every TIFF that carries EXIF, whose interoperability
directory Pillow's writer leaves at a stale offset. tifffile refuses to write EXIF and GPS
sub-directory pointers, so :func:`write_tiff` writes placeholders, appends the
sub-directories (serialized by Pillow, as for a JPEG) and turns the placeholders into the
pointers.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import PIL.Image
import tifffile

from tunecli.errors import InputImageError

if TYPE_CHECKING:
    from tunecli.imageio.remote import Location

TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

_MINISBLACK = 1
_RGB = 2
_UINT = 1
_FLOAT = 3
_ASSOCIATED_ALPHA = 1
_UNASSOCIATED_ALPHA = 2

_ICC_TAG = 34675
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005  # inside the EXIF sub-directory
# IFD0 tags a camera writes next to its EXIF sub-directory: ImageDescription, Make, Model,
# Orientation, Software, DateTime, Artist, Copyright. Structural TIFF tags stay behind.
_EXIF_IFD0_TAGS = (270, 271, 272, 274, 305, 306, 315, 33432)
_RESOLUTION_UNIT_INCHES = {2: 1.0, 3: 2.54}


def is_tiff(header: bytes) -> bool:
    """True when ``header`` (the file's first bytes) starts like a TIFF or BigTIFF."""
    return header[:4] in TIFF_SIGNATURES


@dataclass(frozen=True)
class TiffLayout:
    """The first page's layout, read from its tags without decoding samples."""

    height: int
    width: int
    samples_per_pixel: int
    bits_per_sample: int
    sample_format: int
    photometric: int
    compression: str
    pages: int
    byteorder: str = "<"  # "<" little-endian (II), ">" big-endian (MM)

    @property
    def pillow_exact(self) -> bool:
        """True when Pillow decodes this page without losing bits or channels."""
        if self.sample_format == _UINT and self.bits_per_sample <= 8:
            return True
        single_gray = self.samples_per_pixel == 1 and self.photometric == _MINISBLACK
        deep_gray = (self.sample_format, self.bits_per_sample) in ((_UINT, 16), (_FLOAT, 32))
        # Pillow 13 decodes compressed big-endian float samples in the wrong byte order
        swapped_float = self.sample_format == _FLOAT and self.byteorder == ">"
        return single_gray and deep_gray and not swapped_float


def inspect_tiff(file: BinaryIO) -> TiffLayout:
    """Read the first page's tags. Raises ``tifffile.TiffFileError``, ``OSError`` or ``ValueError``."""
    with tifffile.TiffFile(file) as tif:
        page = tif.pages.first
        return TiffLayout(
            height=int(page.imagelength),
            width=int(page.imagewidth),
            samples_per_pixel=int(page.samplesperpixel),
            bits_per_sample=int(page.bitspersample),
            sample_format=int(page.sampleformat),
            photometric=int(page.photometric),
            compression=tifffile.COMPRESSION(page.compression).name,
            pages=len(tif.pages),
            byteorder=tif.byteorder,
        )


@dataclass
class DeepTiff:
    """Samples of a deep TIFF: ``samples`` uint16 or float32 ``(H, W, K)``, the first
    ``colour_channels`` (1 or 3) colour, then an alpha plane if ``K`` is one more."""

    samples: np.ndarray
    colour_channels: int
    premultiplied: bool
    notices: list[str]


def read_deep_tiff(path: Location, file: BinaryIO, layout: TiffLayout) -> DeepTiff:
    """Decode the first page of a 16-bit or float gray/RGB TIFF with optional alpha from ``file``
    (``path``: its name in messages).

    Raises :class:`InputImageError` for layouts tunecli does not read, and tifffile's own
    errors for damaged files.
    """
    if layout.photometric == _MINISBLACK:
        colour = 1
    elif layout.photometric == _RGB:
        colour = 3
    else:
        name = tifffile.PHOTOMETRIC(layout.photometric).name
        raise InputImageError(f"{path}: unsupported {layout.bits_per_sample}-bit TIFF colour model {name}")
    with tifffile.TiffFile(file) as tif:
        page = tif.pages.first
        axes = page.axes
        extra_kinds = tuple(int(kind) for kind in page.extrasamples)
        data = page.asarray()
    if axes.startswith("S"):
        data = np.moveaxis(data, 0, -1)
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3 or data.shape[2] < colour:
        raise InputImageError(f"{path}: unsupported TIFF layout {axes} {data.shape}")
    if data.dtype.kind == "u" and data.dtype.itemsize == 2:
        samples = data.astype(np.uint16, copy=False)
    elif data.dtype.kind == "f":
        samples = data.astype(np.float32, copy=False)
    else:
        raise InputImageError(
            f"{path}: unsupported TIFF sample type {data.dtype} (tunecli reads 8/16-bit unsigned and float samples)"
        )
    notices: list[str] = []
    if data.dtype.kind == "f" and data.dtype.itemsize != 4:
        notices.append(f"{data.dtype.itemsize * 8}-bit float samples converted to 32-bit float")
    keep = colour
    premultiplied = False
    if extra_kinds and extra_kinds[0] in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA):
        keep = colour + 1
        premultiplied = extra_kinds[0] == _ASSOCIATED_ALPHA
    if samples.shape[2] > keep:
        notices.append(f"{samples.shape[2] - keep} extra TIFF channel(s) dropped")
    return DeepTiff(np.ascontiguousarray(samples[:, :, :keep]), colour, premultiplied, notices)


# Unassigned (or IFD0-foreign) tag codes just below the EXIF and GPS pointers: tifffile writes them,
# and renaming them to the pointer keeps the directory's tags in ascending order.
_POINTER_PLACEHOLDERS = {_EXIF_IFD: _EXIF_IFD - 1, _GPS_IFD: _GPS_IFD - 1}
_ASCII, _SHORT, _LONG = 2, 3, 4


def write_tiff(file: BinaryIO, samples: np.ndarray, colour_channels: int, options: dict[str, Any]) -> None:
    """Write uint8/uint16/float32 ``(H, W, K)`` samples (K = colour_channels [+ 1 alpha]) as a
    zlib TIFF (every deep colour TIFF, and every TIFF that carries EXIF).

    ``options``: the same ``icc_profile``, ``dpi`` and ``exif`` keys Pillow's writers take. Of
    the EXIF block, the camera's first-directory tags (make, model, orientation, date, …) and its
    EXIF and GPS sub-directories are written, as :func:`tiff_metadata` reads them.
    """
    has_alpha = samples.shape[2] > colour_channels
    dpi = options.get("dpi")
    exif = PIL.Image.Exif()
    if options.get("exif"):
        exif.load(options["exif"])
    pointers = [tag for tag in (_EXIF_IFD, _GPS_IFD) if exif.get_ifd(tag)]
    camera = {tag: exif[tag] for tag in _EXIF_IFD0_TAGS if tag in exif and tag not in (270, 305)}
    extratags = [
        (tag, _SHORT, 1, int(value), True) if tag == 274 else (tag, _ASCII, 0, _ascii(value), True)
        for tag, value in camera.items()
    ]
    extratags += [(_POINTER_PLACEHOLDERS[tag], _LONG, 1, 0, True) for tag in pointers]
    byteorder = exif.endian or "<"
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        samples if samples.shape[2] > 1 else samples[:, :, 0],
        byteorder=byteorder,
        photometric="rgb" if colour_channels == 3 else "minisblack",
        planarconfig="contig" if samples.shape[2] > 1 else None,
        extrasamples=("unassalpha",) if has_alpha else None,
        compression="zlib",
        iccprofile=options.get("icc_profile"),
        resolution=(float(dpi[0]), float(dpi[1])) if dpi else None,
        resolutionunit="INCH" if dpi else None,
        description=_ascii(exif[270]) if 270 in exif else None,
        software=_ascii(exif[305]) if 305 in exif else None,
        metadata=None,
        extratags=extratags,
    )
    data = buffer.getvalue()
    if pointers:
        data = _append_sub_directories(data, exif, pointers, byteorder)
    file.write(data)


def _ascii(value: object) -> bytes:
    return value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]


def _append_sub_directories(data: bytes, exif: PIL.Image.Exif, pointers: list[int], byteorder: str) -> bytes:
    """Append ``exif``'s EXIF/GPS sub-directories to the classic TIFF ``data`` (written in
    ``byteorder`` with a LONG placeholder per pointer) and point the first directory at them."""
    for tag in list(exif):
        if tag not in pointers:
            del exif[tag]  # only the sub-directories travel in the appended block
    start = len(data) + len(data) % 2  # directories start on a word boundary
    block = exif.tobytes(start)  # b"Exif\0\0", an 8-byte header, then a directory that lives at `start`
    appended = block[6 + 8 :]
    out = bytearray(data + b"\0" * (start - len(data)) + appended)
    (count,) = struct.unpack_from(byteorder + "H", out, start)
    targets = {}
    for index in range(count):
        tag, _type, _count, value = struct.unpack_from(byteorder + "HHII", out, start + 2 + 12 * index)
        targets[tag] = value
    with tifffile.TiffFile(io.BytesIO(bytes(out))) as tif:
        tags = tif.pages.first.tags
        for pointer in pointers:
            placeholder = tags[_POINTER_PLACEHOLDERS[pointer]]
            struct.pack_into(byteorder + "H", out, placeholder.offset, pointer)
            struct.pack_into(byteorder + "I", out, placeholder.valueoffset, targets[pointer])
    return bytes(out)


@dataclass
class TiffMetadata:
    """ICC profile, EXIF block (``b"Exif\\0\\0"`` + TIFF data) and dots per inch of a TIFF."""

    icc_profile: bytes | None
    exif: bytes | None
    dpi: tuple[float, float] | None


def tiff_metadata(ifd0: PIL.Image.Exif) -> TiffMetadata:
    """Collect metadata from a TIFF's first directory, as parsed by Pillow.

    The EXIF block holds the camera's IFD0 tags and its EXIF and GPS sub-directories, so it can
    be written into a JPEG, PNG or WebP as well as back into a TIFF.
    """
    icc = ifd0.get(_ICC_TAG)
    carried = PIL.Image.Exif()
    for tag in _EXIF_IFD0_TAGS:
        if tag in ifd0:
            carried[tag] = ifd0[tag]
    for pointer in (_EXIF_IFD, _GPS_IFD):
        sub = ifd0.get_ifd(pointer)
        if pointer == _EXIF_IFD and _INTEROP_IFD in sub:  # nested, so it is written out, not a stale offset
            sub = {**sub, _INTEROP_IFD: ifd0.get_ifd(_INTEROP_IFD)}
        if sub:
            carried[pointer] = sub
    has_camera_data = _EXIF_IFD in carried or _GPS_IFD in carried or any(t in carried for t in (271, 272))
    dpi = None
    unit = _RESOLUTION_UNIT_INCHES.get(int(ifd0.get(296, 2)))
    if unit and 282 in ifd0 and 283 in ifd0:
        dpi = (float(ifd0[282]) * unit, float(ifd0[283]) * unit)
    return TiffMetadata(
        icc_profile=bytes(icc) if isinstance(icc, bytes | bytearray) and icc else None,
        exif=carried.tobytes() if has_camera_data else None,
        dpi=dpi,
    )


def read_tiff_ifd0(file: BinaryIO) -> PIL.Image.Exif:
    """Parse a TIFF's first directory with Pillow (tags only, any sample type)."""
    ifd0 = PIL.Image.Exif()
    ifd0.load_from_fp(file)
    for pointer in (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD):
        ifd0.get_ifd(pointer)  # read the sub-directories while the file is open
    return ifd0
