"""Atomic file output: write into a temporary file beside the target, then move it into place.

A reader of the target sees either nothing (or the old file) or the complete new file, never a
partial one; on any error or interruption the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tunecli.errors import OutputError


def exists_message(path: object) -> str:
    """The one-line error for an output that exists and is to be kept (``path``: how it is shown)."""
    return f"{path}: already exists (use --overwrite to replace it or --skip-existing to keep it)"


def temp_name(name: str) -> str:
    """A fresh hidden name ``.{name}.{random}.tmp`` for a file written beside ``name``."""
    return f".{name}.{secrets.token_hex(4)}.tmp"


@contextlib.contextmanager
def atomic_output(path: Path, *, overwrite: bool) -> Iterator[BinaryIO]:
    """Yield a binary file to write; on success it becomes ``path``, on failure it vanishes.

    Missing parent folders are created. Raises :class:`OutputError` when ``path`` exists and
    ``overwrite`` is false (checked again, atomically where the filesystem allows, when the file
    is moved into place) or when the folder cannot be written.
    """
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file name")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise OutputError(exists_message(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from exc
    try:
        temp = _create_temp_in(path.parent, path.name)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write into {path.parent} ({exc.strerror or exc})") from exc
    try:
        # Opened by name so that writers which need ``file.name`` (tifffile) work.
        with temp.open("r+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        _move_into_place(temp, path, overwrite=overwrite)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) if missing and prove that :func:`atomic_output` can
    write there: a temporary file is created in it and removed again.

    Raises :class:`OutputError` (one line naming the folder) when the folder cannot be created or
    no file can be created in it. Folders it created stay (they would be created by the run).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create this folder ({exc.strerror or exc})") from exc
    try:
        _create_temp_in(folder, "write-test").unlink()
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write into this folder ({exc.strerror or exc})") from exc


def _create_temp_in(folder: Path, name: str) -> Path:
    """A new hidden file ``.{name}.{random}.tmp`` in ``folder`` (mode 0o666 less the umask, like
    any new file); raises OSError when the folder refuses it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = folder / temp_name(name)
        try:
            os.close(os.open(temp, flags, 0o666))
            return temp
        except FileExistsError:
            continue


def _move_into_place(temp: Path, path: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    # A hard link fails if the target appeared meanwhile, so no file is ever replaced.
    try:
        os.link(temp, path)
    except FileExistsError as exc:
        raise OutputError(exists_message(path)) from exc
    except OSError:  # a filesystem without hard links
        if path.exists():
            raise OutputError(exists_message(path)) from None
        os.replace(temp, path)
        return
    temp.unlink()
