"""Reading the blur-kernel sets of the deblurring benchmarks (no torch here).

Accepted files, each giving one or more 2-D kernels:

- MATLAB v5 ``.mat`` (read with scipy): a variable ``kernels`` that is a cell array (1×N or
  N×1) of 2-D arrays, an ``H×W×N`` array or one ``H×W`` array — e.g. KAIR's ``kernels_12.mat``.
- MATLAB v7.3 ``.mat`` (HDF5, read with h5py): a dataset ``kernels`` of object references (a
  cell array, e.g. Levin et al. 2009's eight kernels) or a numeric array. MATLAB stores arrays
  column-major, so every array is transposed back.
- ``.npy``: one ``(H, W)`` kernel or a stack ``(N, H, W)``.
- a gray image (PNG, TIFF, ... through :func:`tunecli.imageio.read_image`): one kernel; an RGB
  image whose three channels are equal counts as gray.

scipy and h5py are imported only for the files that need them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tunecli.errors import UsageError, one_line
from tunecli.imageio import is_image_path, read_image

VARIABLE = "kernels"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# MATLAB v7.3 files are HDF5 files behind a 512-byte user block (the MATLAB text header).
_HDF5_OFFSETS = (0, 512)
_EXPECTED = (
    "a MATLAB .mat file with a 'kernels' variable (cell array of 2-D kernels or an HxWxN array), "
    "a .npy array (H, W) or (N, H, W), or a gray image"
)


def read_kernels(path: Path) -> list[np.ndarray]:
    """The kernels in ``path``, each float32 2-D, negative values clipped to 0, summing to 1.

    Raises :class:`UsageError` with a one-line message naming the file for a missing file, an
    unsupported or damaged file, a file without kernels, or a kernel without positive weight.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such kernel file")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        raw = _read_mat_v73(path) if _is_hdf5(path) else _read_mat_v5(path)
    elif suffix == ".npy":
        raw = _split_stack(path, _load_npy(path), stack_axis=0)
    elif is_image_path(path):
        raw = [_gray_plane(path)]
    else:
        raise UsageError(f"{path}: unsupported kernel file; expected {_EXPECTED}")
    if not raw:
        raise UsageError(f"{path}: holds no kernels; expected {_EXPECTED}")
    return [_normalise(path, i, kernel) for i, kernel in enumerate(raw)]


def _is_hdf5(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(max(_HDF5_OFFSETS) + len(_HDF5_SIGNATURE))
    return any(head[o : o + len(_HDF5_SIGNATURE)] == _HDF5_SIGNATURE for o in _HDF5_OFFSETS)


def _read_mat_v5(path: Path) -> list[np.ndarray]:
    try:
        import scipy.io
    except ImportError as exc:
        raise UsageError(f"{path}: reading MATLAB .mat files needs scipy (pip install scipy)") from exc
    try:
        variables = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as exc:
        raise UsageError(f"{path}: not a readable MATLAB file ({one_line(exc)}); expected {_EXPECTED}") from exc
    if VARIABLE not in variables:
        raise UsageError(f"{path}: no '{VARIABLE}' variable (found: {_names(variables.keys())}); expected {_EXPECTED}")
    value = variables[VARIABLE]
    if value.dtype == object:  # a cell array: loadmat gives an object array of numeric arrays
        return [_two_d(path, np.asarray(cell)) for cell in value.ravel(order="F")]
    return _split_stack(path, value, stack_axis=2)


def _read_mat_v73(path: Path) -> list[np.ndarray]:
    try:
        import h5py
    except ImportError as exc:
        raise UsageError(f"{path}: reading MATLAB v7.3 .mat files needs h5py (pip install h5py)") from exc
    try:
        with h5py.File(path, "r") as file:
            if VARIABLE not in file:
                raise UsageError(
                    f"{path}: no '{VARIABLE}' variable (found: {_names(file.keys())}); expected {_EXPECTED}"
                )
            dataset = file[VARIABLE]
            if not isinstance(dataset, h5py.Dataset):
                raise UsageError(f"{path}: '{VARIABLE}' is a MATLAB struct, expected {_EXPECTED}")
            if h5py.check_dtype(ref=dataset.dtype) is not None:
                # A cell array: references to one dataset per cell, each stored transposed.
                refs = np.asarray(dataset[()]).T.ravel(order="F")
                return [_two_d(path, np.asarray(file[ref][()]).T) for ref in refs]
            return _split_stack(path, np.asarray(dataset[()]).T, stack_axis=2)
    except OSError as exc:
        raise UsageError(f"{path}: not a readable MATLAB v7.3 file ({one_line(exc)})") from exc


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable .npy array ({one_line(exc)})") from exc


def _gray_plane(path: Path) -> np.ndarray:
    pixels = read_image(path).pixels
    if pixels.shape[2] == 3 and not (pixels == pixels[..., :1]).all():
        raise UsageError(f"{path}: a kernel image must be gray, this one has colour")
    return pixels[..., 0]


def _split_stack(path: Path, value: np.ndarray, stack_axis: int) -> list[np.ndarray]:
    """A 2-D array is one kernel; a 3-D array is kernels stacked along ``stack_axis``."""
    if value.ndim == 2:
        return [_two_d(path, value)]
    if value.ndim == 3:
        return [_two_d(path, plane) for plane in np.moveaxis(value, stack_axis, 0)]
    raise UsageError(f"{path}: kernels of shape {value.shape}; expected {_EXPECTED}")


def _two_d(path: Path, value: np.ndarray) -> np.ndarray:
    if value.ndim != 2 or value.size == 0 or not np.issubdtype(value.dtype, np.number):
        raise UsageError(f"{path}: a kernel of shape {value.shape} ({value.dtype}); expected 2-D numeric kernels")
    return value


def _normalise(path: Path, index: int, kernel: np.ndarray) -> np.ndarray:
    weights = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    total = float(weights.sum())
    if not np.isfinite(total) or total <= 0.0:
        raise UsageError(f"{path}: kernel {index + 1} has no positive finite weight")
    return (weights / total).astype(np.float32)


def _names(keys: Iterable[object]) -> str:
    """The user's variable names among a MATLAB file's keys (not scipy's ``__header__``, not HDF5's ``#refs#``)."""
    names = [str(k) for k in keys if not str(k).startswith(("__", "#"))]
    return ", ".join(names) if names else "nothing"
