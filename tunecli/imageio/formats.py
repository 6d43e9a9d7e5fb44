"""The five file formats tunecli reads and writes, and what each can hold.

A format is named by its canonical short name (``png``, ``jpeg``, ``webp``, ``bmp``, ``tiff``);
users may also write ``jpg`` and ``tif``. This module is pure Python (no Pillow import).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunecli.errors import OutputError


@dataclass(frozen=True)
class FileFormat:
    """What one format can hold.

    ``dtypes``: stored sample types it can write, deepest last; ``alpha``: an alpha channel;
    ``gray``: a one-channel colour model (WebP stores gray as RGB); ``icc``/``exif``: whether
    an ICC profile / EXIF block is written.
    """

    name: str
    label: str
    suffixes: tuple[str, ...]
    dtypes: tuple[str, ...]
    alpha: bool
    gray: bool
    icc: bool
    exif: bool

    @property
    def suffix(self) -> str:
        """The suffix written for this format (the first of ``suffixes``)."""
        return self.suffixes[0]


FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat("png", "PNG", (".png",), ("uint8", "uint16"), alpha=True, gray=True, icc=True, exif=True),
        FileFormat("jpeg", "JPEG", (".jpg", ".jpeg"), ("uint8",), alpha=False, gray=True, icc=True, exif=True),
        FileFormat("webp", "WebP", (".webp",), ("uint8",), alpha=True, gray=False, icc=True, exif=True),
        FileFormat("bmp", "BMP", (".bmp",), ("uint8",), alpha=False, gray=True, icc=False, exif=False),
        FileFormat(
            "tiff",
            "TIFF",
            (".tif", ".tiff"),
            ("uint8", "uint16", "float32"),
            alpha=True,
            gray=True,
            icc=True,
            exif=True,
        ),
    )
}

_ALIASES = {"jpg": "jpeg", "tif": "tiff"}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS.values() for s in f.suffixes)


def is_image_path(path: str | Path) -> bool:
    """True when the file name ends in a supported image suffix (case-insensitive)."""
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


def canonical_format(name: str) -> str:
    """``"jpg"`` → ``"jpeg"``, ``"TIF"`` → ``"tiff"``, ``"png"`` → ``"png"``; raises OutputError if unknown."""
    key = name.strip().lower().lstrip(".")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise OutputError(f"unknown image format {name!r} (use png, jpg, webp, bmp or tif)")
    return key


def format_for_suffix(path: str | Path) -> str | None:
    """The canonical format a file name promises by its suffix, or None for other suffixes."""
    suffix = Path(path).suffix.lower()
    for f in FORMATS.values():
        if suffix in f.suffixes:
            return f.name
    return None


def output_suffix(format: str) -> str:
    """The suffix written for a format: ``"png"`` → ``".png"``, ``"jpeg"`` → ``".jpg"``, ``"tiff"`` → ``".tif"``."""
    return FORMATS[canonical_format(format)].suffix
