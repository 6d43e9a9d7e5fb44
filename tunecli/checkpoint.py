"""Checkpoint files: one ``.safetensors`` per model with tunecli's JSON metadata (SPEC §7).

Loading never unpickles anything: the header is parsed here (8-byte little-endian length +
JSON) before safetensors reads the tensors, so each kind of damage gets its own error.
Reading metadata needs no torch, which keeps ``tunecli models`` fast.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunecli.errors import (
    CheckpointMetadataError,
    CheckpointNotFoundError,
    CheckpointVersionError,
    NotSafetensorsError,
    TruncatedCheckpointError,
)

if TYPE_CHECKING:
    from torch import Tensor

FORMAT_VERSION = 1
METADATA_KEY = "tunecli"
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class CheckpointHeader:
    """What the header of a checkpoint says: tensor names → (dtype, shape), and tunecli metadata."""

    path: Path
    tensors: dict[str, tuple[str, tuple[int, ...]]]
    meta: dict[str, Any]


def read_header(path: str | Path) -> CheckpointHeader:
    """Parse and check a checkpoint's header without reading tensor data or importing torch.

    Raises a distinct :class:`~tunecli.errors.CheckpointError` subclass per problem, each with
    a one-line message that names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: checkpoint file not found")
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise NotSafetensorsError(f"{path}: not a safetensors file (only {size} bytes)")
        (length,) = struct.unpack("<Q", prefix)
        if length < 2 or length > _MAX_HEADER:
            raise NotSafetensorsError(f"{path}: not a safetensors file (invalid header length)")
        if 8 + length > size:
            raise TruncatedCheckpointError(f"{path}: checkpoint is truncated (header cut short)")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NotSafetensorsError(f"{path}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise NotSafetensorsError(f"{path}: not a safetensors file (header is not a JSON object)")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            _, stop = info["data_offsets"]
            tensors[name] = (str(info["dtype"]), tuple(int(d) for d in info["shape"]))
        except (KeyError, TypeError, ValueError):
            raise NotSafetensorsError(f"{path}: not a safetensors file (bad entry for {name!r})") from None
        end = max(end, int(stop))
    if 8 + length + end > size:
        raise TruncatedCheckpointError(
            f"{path}: checkpoint is truncated ({size} bytes, tensors need {8 + length + end})"
        )
    metadata = header.get("__metadata__") or {}
    if METADATA_KEY not in metadata:
        raise CheckpointMetadataError(f"{path}: safetensors file without tunecli metadata (key {METADATA_KEY!r})")
    try:
        meta = json.loads(metadata[METADATA_KEY])
    except (TypeError, json.JSONDecodeError):
        raise CheckpointMetadataError(f"{path}: tunecli metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointMetadataError(f"{path}: tunecli metadata is not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointVersionError(
            f"{path}: checkpoint format version {version!r}; this tunecli reads version {FORMAT_VERSION}"
        )
    for key in ("arch", "hparams", "task", "alpha_space"):
        if key not in meta:
            raise CheckpointMetadataError(f"{path}: tunecli metadata lacks {key!r}")
    return CheckpointHeader(path, tensors, meta)


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Write ``tensors`` and ``meta`` atomically (temp file in the same folder + rename).

    ``meta`` is stored as JSON under the ``tunecli`` metadata key; ``format_version`` is set here.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format_version": FORMAT_VERSION, **meta}
    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(contiguous, temp, metadata={METADATA_KEY: json.dumps(record, sort_keys=True)})
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_tensors(header: CheckpointHeader) -> dict[str, Tensor]:
    """Read the tensors of a checked checkpoint (safetensors: no code is executed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(header.path))
    except (SafetensorError, OSError, ValueError) as err:
        raise NotSafetensorsError(f"{header.path}: cannot read tensors ({err})") from None
