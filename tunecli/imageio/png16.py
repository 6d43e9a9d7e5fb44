"""16-bit PNG with colour or alpha, which Pillow cannot hold.

Pillow (checked with 13.0) has no 16-bit RGB, RGBA or LA mode: its PNG decoder narrows such
files to 8 bits per sample and it cannot encode them at all. These PNGs go through pypng, a
small, well-kept, pure-Python PNG codec on PyPI whose 16-bit support is exact; pypng was chosen
over a hand-written zlib encoder/decoder (filters, interlacing, CRCs) and over imagecodecs (a large
binary dependency for one case). Pillow still decodes and encodes every other PNG, much faster,
and remains the one reader and writer of PNG metadata: for files written here its metadata
chunks are taken from a 1×1 PNG it encodes with the same options.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

import numpy as np
import PIL.Image
import png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Ancillary chunks that describe the pixels of the probe image rather than the metadata.
_PIXEL_CHUNKS = frozenset({b"tRNS", b"bKGD", b"sBIT", b"hIST", b"PLTE"})


def needs_pypng(header: bytes) -> bool:
    """True for a PNG whose IHDR declares 16-bit samples with colour or alpha (colour types 2, 4, 6).

    ``header``: at least the first 26 bytes of the file.
    """
    return (
        len(header) >= 26
        and header.startswith(PNG_SIGNATURE)
        and header[12:16] == b"IHDR"
        and header[24] == 16
        and header[25] in (2, 4, 6)
    )


def read_png16(file: BinaryIO) -> np.ndarray:
    """The stored samples of a 16-bit PNG: uint16 ``(H, W, planes)``, planes 1–4 (G, GA, RGB, RGBA).

    Raises ``png.Error``, ``zlib.error`` or ``OSError`` for damaged files.
    """
    width, height, rows, info = png.Reader(file=file).read()
    planes = int(info["planes"])
    samples = np.empty((height, width * planes), dtype=np.uint16)
    for y, row in enumerate(rows):
        samples[y] = np.frombuffer(row, dtype=np.uint16)
    return samples.reshape(height, width, planes)


def metadata_chunks(save_options: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The metadata chunks (iCCP, eXIf, pHYs, tEXt/iTXt...) Pillow writes for ``save_options``."""
    probe = io.BytesIO()
    PIL.Image.new("RGB", (1, 1)).save(probe, format="PNG", **save_options)
    chunks = png.Reader(bytes=probe.getvalue()).chunks()
    return [(kind, data) for kind, data in chunks if kind[:1].islower() and kind not in _PIXEL_CHUNKS]


def write_png16(file: BinaryIO, samples: np.ndarray, extra_chunks: list[tuple[bytes, bytes]]) -> None:
    """Write uint16 ``(H, W, planes)`` samples (planes 1–4) as a 16-bit PNG, ``extra_chunks`` after IHDR."""
    height, width, planes = samples.shape
    writer = png.Writer(width, height, greyscale=planes <= 2, alpha=planes in (2, 4), bitdepth=16, compression=6)
    encoded = io.BytesIO()
    writer.write(encoded, samples.reshape(height, width * planes))
    header, *rest = png.Reader(bytes=encoded.getvalue()).chunks()
    png.write_chunks(file, [header, *extra_chunks, *rest])
