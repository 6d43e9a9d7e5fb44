"""The one exception family of tunecli.

Every error a user can cause is a :class:`TunecliError` with a one-line message; the CLI maps
``exit_code`` to the process exit status (SPEC §5) and shows a traceback only with ``--debug``.
"""

from __future__ import annotations

#: Exit status of a run stopped with Ctrl-C (SPEC §5).
INTERRUPTED = 130


def one_line(error: BaseException) -> str:
    """``error``'s message on one line, for quoting another library's error inside a tunecli one:
    its text with line breaks and runs of spaces made single spaces, or its type's name when it
    has no text."""
    return " ".join(str(error).split()) or type(error).__name__


class TunecliError(Exception):
    """Base of all tunecli errors. ``str(err)`` is a complete one-line message."""

    exit_code: int = 1


class UsageError(TunecliError):
    """Bad option, bad value or missing input: nothing was processed (exit 2)."""

    exit_code = 2


class AlphaError(UsageError):
    """A tuning vector or sweep spec that does not fit the model's alpha space."""


class ModelNotFoundError(UsageError):
    """No installed model of that name and no checkpoint file at that path."""


class InputImageError(TunecliError):
    """An input image that cannot be read (missing, damaged, unsupported, too large)."""


class OutputError(TunecliError):
    """An output that cannot be written (exists, unwritable folder, unsupported format)."""


class DeviceError(TunecliError):
    """The requested device or precision is unavailable, or the device failed."""


class CheckpointError(TunecliError):
    """Base of all checkpoint problems; the message names the file."""


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint file does not exist."""


class NotSafetensorsError(CheckpointError):
    """The file is not a safetensors file (for example a pickle renamed to .safetensors)."""


class TruncatedCheckpointError(CheckpointError):
    """The header promises more tensor bytes than the file holds."""


class CheckpointMetadataError(CheckpointError):
    """The tunecli metadata is missing or malformed."""


class CheckpointVersionError(CheckpointError):
    """The metadata's format version is not one this tunecli reads."""


class UnknownArchitectureError(CheckpointError):
    """The architecture named in the metadata is not registered."""


class HyperParameterError(CheckpointError):
    """The recorded hyper-parameters do not build the architecture."""


class ShapeMismatchError(CheckpointError):
    """The stored tensors do not match the architecture (missing, unexpected or wrong shape)."""
