"""Files named by URI (``s3://bucket/key``, ``gs://…``, ``file:///…``): the inputs and outputs of a
batch on a filesystem that pyarrow (or, for other schemes, fsspec) reaches.

A :class:`RemotePath` is named and joined like a :class:`~pathlib.Path` (``name``, ``parent``,
``/``, ``exists()``, ``iterdir()``…), so planning a batch treats it as it treats a local path;
:func:`tunecli.imageio.read_image` fetches its bytes and :func:`tunecli.imageio.write_image`
stores them whole. The filesystem is resolved from the URI the user gave (its query holds the
filesystem's options, e.g. ``?endpoint_override=…``; credentials come from the environment, as
pyarrow reads them), once per process, so paths travel to Ray workers as plain values.
pyarrow is imported only when a URI is first used.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Literal, TypeAlias

from tunecli.errors import InputImageError, OutputError, TunecliError, UsageError, one_line
from tunecli.imageio.atomic import atomic_output, check_writable_folder, exists_message, temp_name

if TYPE_CHECKING:
    from pyarrow.fs import FileInfo, FileSystem

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: pyarrow's names of the filesystems whose objects appear only once uploaded whole: a write
#: goes straight to its name. Elsewhere it goes to a temporary name beside it, then is moved.
_OBJECT_STORES = frozenset({"s3", "gcs", "abfs"})

Kind = Literal["file", "dir"]


def is_uri(text: str) -> bool:
    """True when ``text`` starts with a scheme and ``://`` (``s3://…``), not a local path."""
    return _SCHEME.match(text) is not None


def location(text: str) -> Location:
    """A command-line path: a :class:`RemotePath` for a URI, else a :class:`~pathlib.Path`."""
    return RemotePath.parse(text) if is_uri(text) else Path(text)


@dataclass(frozen=True, order=True)
class RemotePath:
    """A file or folder named by URI: ``scheme`` and ``path`` (what follows ``scheme://``, without
    credentials or query), shown as ``scheme://path``.

    ``root``: the URI given on the command line that this path was reached from; it resolves the
    filesystem. ``kind``: what a listing found there (spares a round trip per entry).
    """

    scheme: str
    path: PurePosixPath
    root: str = field(compare=False, repr=False)
    kind: Kind | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, uri: str) -> RemotePath:
        """The path a URI names (``ValueError`` if ``uri`` has no scheme)."""
        match = _SCHEME.match(uri)
        if match is None:
            raise ValueError(f"{uri!r} is not a URI")
        return cls(match.group(1).lower(), _shown_path(uri), uri)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def suffix(self) -> str:
        return self.path.suffix

    @property
    def parent(self) -> RemotePath:
        return replace(self, path=self.path.parent, kind=None)

    def __truediv__(self, other: str | PurePath) -> RemotePath:
        part = other.as_posix() if isinstance(other, PurePath) else other
        return replace(self, path=self.path / part, kind=None)

    def with_name(self, name: str) -> RemotePath:
        return replace(self, path=self.path.with_name(name), kind=None)

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        return self.path.relative_to(other.path)

    def resolve(self) -> RemotePath:
        """Itself: a URI names one object (no links, no relative parts to resolve)."""
        return self

    def exists(self) -> bool:
        return self._kind() is not None

    def is_dir(self) -> bool:
        return self._kind() == "dir"

    def is_file(self) -> bool:
        return self._kind() == "file"

    def iterdir(self) -> Iterator[RemotePath]:
        """The entries of this folder (raises ``OSError`` when it cannot be listed)."""
        fs, base = self._resolved()
        from pyarrow.fs import FileSelector

        for info in fs.get_file_info(FileSelector(base)):
            kind = _kind_of(info)
            if kind is not None:
                yield replace(self, path=self.path / PurePosixPath(info.path).name, kind=kind)

    def read_bytes(self) -> bytes:
        """The whole file, for the image reader; raises :class:`InputImageError` (one line
        naming the URI) when it is missing, a folder, empty or unreadable."""
        fs, path = self._resolved()
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read()
        except FileNotFoundError:
            raise InputImageError(f"{self}: no such file") from None
        except OSError as err:
            if self._kind(InputImageError) == "dir":
                raise InputImageError(f"{self}: is a folder, not an image file") from None
            raise InputImageError(f"{self}: cannot read the file ({one_line(err)})") from None
        if not data:
            raise InputImageError(f"{self}: empty file (0 bytes)")
        return bytes(data)

    @contextlib.contextmanager
    def atomic_output(self, *, overwrite: bool) -> Iterator[BinaryIO]:
        """:func:`tunecli.imageio.atomic.atomic_output` on this filesystem: yield a binary file to
        write; on success it becomes this path whole, on failure nothing is left.

        ``file://`` goes through the local atomic writer; an object store receives the bytes in
        one upload (an object appears only once complete); another filesystem gets them under a
        temporary name beside the target, then moved into place. Raises :class:`OutputError`
        when the path exists and not ``overwrite``, is a folder, or cannot be written.
        """
        fs, path = self._resolved()
        if fs.type_name == "local":
            with self._named_errors(Path(path)), atomic_output(Path(path), overwrite=overwrite) as file:
                yield file
            return
        kind = self._kind(OutputError)
        if kind == "dir":
            raise OutputError(f"{self}: is a folder, not a file name")
        if kind is not None and not overwrite:
            raise OutputError(exists_message(self))
        buffer = io.BytesIO()
        yield buffer
        staged = path if fs.type_name in _OBJECT_STORES else str(PurePosixPath(path).with_name(temp_name(self.name)))
        try:
            with fs.open_output_stream(staged) as stream:
                stream.write(buffer.getbuffer())
            if staged != path:
                if not overwrite and self._kind(OutputError) is not None:
                    raise OutputError(exists_message(self))
                fs.move(staged, path)
        except BaseException as err:
            if staged != path:
                with contextlib.suppress(OSError):
                    fs.delete_file(staged)
            if isinstance(err, OSError):
                raise OutputError(f"{self}: cannot write the file ({one_line(err)})") from None
            raise

    def check_writable_folder(self) -> None:
        """:func:`tunecli.imageio.atomic.check_writable_folder` on this filesystem: prove that
        files can be written into this folder (a probe file is written and removed), before any
        model runs. Raises :class:`OutputError` (one line naming the URI)."""
        fs, path = self._resolved()
        if fs.type_name == "local":
            with self._named_errors(Path(path)):
                check_writable_folder(Path(path))
            return
        probe = str(PurePosixPath(path) / temp_name("write-test"))
        try:
            with fs.open_output_stream(probe) as stream:
                stream.write(b"")
            fs.delete_file(probe)
        except OSError as err:
            raise OutputError(f"{self}: cannot write into this folder ({one_line(err)})") from None

    def _kind(self, error: type[TunecliError] = UsageError) -> Kind | None:
        """``file``, ``dir`` or None (nothing there); raises ``error`` (planning: a usage error;
        reading or writing: that file's failure) when the filesystem cannot say (no access, no
        network)."""
        if self.kind is not None:
            return self.kind
        fs, path = self._resolved()
        try:
            return _kind_of(fs.get_file_info(path))
        except OSError as err:
            raise error(f"{self}: cannot reach this path ({one_line(err)})") from None

    def _resolved(self) -> tuple[FileSystem, str]:
        """The filesystem and this path in its own terms (``bucket/key``, ``/tmp/x``…)."""
        fs, root_path = filesystem(self.root)
        # up from the root to the part both share (the folder of an input file, for an output
        # beside it), then down: the shown path and the filesystem's differ only above the root
        root = _shown_path(self.root).parts
        shared = 0
        while shared < min(len(root), len(self.path.parts)) and root[shared] == self.path.parts[shared]:
            shared += 1
        base = PurePosixPath(root_path)
        if shared < len(root):
            base = base.parents[len(root) - shared - 1]
        return fs, str(base.joinpath(*self.path.parts[shared:]))

    @contextlib.contextmanager
    def _named_errors(self, local: Path) -> Iterator[None]:
        """Errors of the local writer name this URI rather than its local path."""
        try:
            yield
        except OutputError as err:
            reason = str(err).removeprefix(f"{local}: ")
            raise OutputError(f"{self}: {reason}") from None


Location: TypeAlias = "Path | RemotePath"


@functools.cache
def filesystem(uri: str) -> tuple[FileSystem, str]:
    """The filesystem a URI names and the path on it, resolved once per process: pyarrow's own
    (``s3``, ``gs``, ``hdfs``, ``file``…), else fsspec's wrapped for pyarrow. Raises
    :class:`UsageError` (exit 2, one line) for an unknown scheme, a missing filesystem package
    or credentials the filesystem refuses."""
    shown = RemotePath.parse(uri)
    try:
        import pyarrow.fs
    except ImportError:
        raise UsageError(f"{shown}: URIs need pyarrow: pip install pyarrow (it comes with 'tunecli[ray]')") from None
    try:
        return pyarrow.fs.FileSystem.from_uri(uri)
    except OSError as err:  # credentials, region look-up, network
        raise UsageError(f"{shown}: cannot open this filesystem ({one_line(err)})") from None
    except ValueError as err:
        if "Unrecognized filesystem type" not in str(err):
            raise UsageError(f"{shown}: {one_line(err)}") from None
    try:
        import fsspec.core
    except ImportError:
        raise UsageError(f"{shown}: unknown filesystem {shown.scheme}:// ({_KNOWN})") from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except ImportError as err:  # fsspec knows the scheme; its package is missing
        raise UsageError(f"{shown}: {one_line(err)}") from None
    except ValueError:
        raise UsageError(f"{shown}: unknown filesystem {shown.scheme}:// ({_KNOWN})") from None
    except Exception as err:  # the implementation's own errors: credentials, network
        raise UsageError(f"{shown}: cannot open this filesystem ({one_line(err)})") from None
    return pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs)), path


_KNOWN = "pyarrow reads file, s3, gs and hdfs; fsspec adds others once their package is installed"


def _shown_path(uri: str) -> PurePosixPath:
    """What follows ``scheme://`` in ``uri``, without credentials (``user:secret@``), query,
    fragment or trailing slash: the part shown and joined."""
    rest = _SCHEME.sub("", uri, count=1).split("?", 1)[0].split("#", 1)[0]
    head, slash, tail = rest.partition("/")
    rest = head.rpartition("@")[2] + slash + tail
    return PurePosixPath(rest.rstrip("/") or "/")


def _kind_of(info: FileInfo) -> Kind | None:
    from pyarrow.fs import FileType

    return "dir" if info.type == FileType.Directory else "file" if info.type == FileType.File else None
