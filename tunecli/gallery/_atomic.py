"""Atomic file writes for the gallery's own files (temp file in the same folder + rename), so an
interrupted sweep never leaves a half-written ``grid.png``, ``index.html`` or ``manifest.json``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)`` and move the result onto ``path`` in one rename.

    The temp file lives next to ``path`` (same file system) and is removed if ``write`` fails or
    the process is interrupted.
    """
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temp))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_atomically(path, lambda temp: temp.write_text(text, encoding="utf-8"))
