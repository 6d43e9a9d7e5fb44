"""Reading kernel sets: MATLAB v5 and v7.3, .npy and images; normalisation and error texts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import scipy.io
from benchmark_data import DATA_DIR

from tunecli.degradations.kernel_files import read_kernels
from tunecli.errors import UsageError

SHARED_KERNELS = DATA_DIR / "kernels" / "KAIR"


def _kernels(seed: int, sizes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((s, s + 2)) for s in sizes]


def _assert_normalised(read: list[np.ndarray], raw: list[np.ndarray]) -> None:
    assert len(read) == len(raw)
    for got, want in zip(read, raw, strict=True):
        assert got.dtype == np.float32 and got.shape == want.shape
        clipped = np.clip(want, 0, None)
        np.testing.assert_allclose(got, clipped / clipped.sum(), rtol=1e-6, atol=1e-9)
        assert float(got.sum()) == pytest.approx(1.0, abs=1e-5)


def test_mat_v5_cell(tmp_path: Path) -> None:
    raw = _kernels(0, (3, 5, 7))
    raw[1][0, 0] = -0.5  # negative weights are clipped before normalising
    cell = np.empty((1, 3), dtype=object)
    for i, k in enumerate(raw):
        cell[0, i] = k
    scipy.io.savemat(tmp_path / "cell.mat", {"kernels": cell})
    read = read_kernels(tmp_path / "cell.mat")
    _assert_normalised(read, raw)
    assert read[1][0, 0] == 0.0


def test_mat_v5_array(tmp_path: Path) -> None:
    stack = np.random.default_rng(1).random((5, 6, 4))
    scipy.io.savemat(tmp_path / "stack.mat", {"kernels": stack, "other": np.ones(2)})
    _assert_normalised(read_kernels(tmp_path / "stack.mat"), [stack[:, :, i] for i in range(4)])


def test_npy(tmp_path: Path) -> None:
    stack = np.random.default_rng(2).random((3, 5, 5)).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    np.save(tmp_path / "one.npy", stack[0])
    _assert_normalised(read_kernels(tmp_path / "stack.npy"), list(stack))
    _assert_normalised(read_kernels(tmp_path / "one.npy"), [stack[0]])


def test_gray_png(tmp_path: Path) -> None:
    samples = np.random.default_rng(3).integers(0, 256, (9, 7), dtype=np.uint8)
    PIL.Image.fromarray(samples).save(tmp_path / "k.png")
    _assert_normalised(read_kernels(tmp_path / "k.png"), [samples.astype(np.float64)])
    PIL.Image.fromarray(np.stack([samples] * 3, -1)).save(tmp_path / "gray_rgb.png")
    _assert_normalised(read_kernels(tmp_path / "gray_rgb.png"), [samples.astype(np.float64)])
    PIL.Image.fromarray(np.stack([samples, samples, samples // 2], -1)).save(tmp_path / "rgb.png")
    with pytest.raises(UsageError, match=r"rgb\.png: a kernel image must be gray"):
        read_kernels(tmp_path / "rgb.png")


def test_error_texts(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "pca.mat", {"P": np.ones((3, 3))})
    with pytest.raises(UsageError, match=r"pca\.mat: no 'kernels' variable \(found: P\); expected a MATLAB"):
        read_kernels(tmp_path / "pca.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(UsageError, match=r"junk\.mat: not a readable MATLAB file"):
        read_kernels(tmp_path / "junk.mat")
    (tmp_path / "k.txt").write_text("1 2 3")
    with pytest.raises(UsageError, match=r"k\.txt: unsupported kernel file; expected .*\.npy"):
        read_kernels(tmp_path / "k.txt")
    np.save(tmp_path / "neg.npy", -np.ones((3, 3)))
    with pytest.raises(UsageError, match="kernel 1 has no positive finite weight"):
        read_kernels(tmp_path / "neg.npy")
    np.save(tmp_path / "4d.npy", np.ones((1, 2, 3, 3)))
    with pytest.raises(UsageError, match=r"kernels of shape \(1, 2, 3, 3\)"):
        read_kernels(tmp_path / "4d.npy")
    with pytest.raises(UsageError, match=r"missing\.mat: no such kernel file"):
        read_kernels(tmp_path / "missing.mat")


def test_v73_without_h5py_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "v73.mat").write_bytes(b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(UsageError, match=r"v73\.mat: reading MATLAB v7\.3 \.mat files needs h5py \(pip install h5py\)"):
        read_kernels(tmp_path / "v73.mat")


def _write_v73(path: Path, kernels: list[np.ndarray] | np.ndarray) -> None:
    """A file laid out as MATLAB v7.3 writes it: HDF5 behind a 512-byte header, arrays
    transposed (column-major), a cell array as references to datasets in ``#refs#``."""
    h5py = pytest.importorskip("h5py", reason="h5py is needed to write MATLAB v7.3 test files")
    with h5py.File(path, "w", userblock_size=512) as file:
        if isinstance(kernels, np.ndarray):
            file.create_dataset("kernels", data=kernels.T)
        else:
            refs = file.create_group("#refs#")
            cells = [refs.create_dataset(f"k{i}", data=k.T).ref for i, k in enumerate(kernels)]
            file.create_dataset("kernels", data=np.array(cells, dtype=h5py.ref_dtype).reshape(len(kernels), 1))
    with path.open("r+b") as file:
        file.write(b"MATLAB 7.3 MAT-file, written by the tunecli tests")


def test_mat_v73_cell_and_array(tmp_path: Path) -> None:
    raw = _kernels(4, (3, 4, 6))
    _write_v73(tmp_path / "cell.mat", raw)
    _assert_normalised(read_kernels(tmp_path / "cell.mat"), raw)
    stack = np.random.default_rng(5).random((4, 5, 2))
    _write_v73(tmp_path / "stack.mat", stack)
    _assert_normalised(read_kernels(tmp_path / "stack.mat"), [stack[:, :, 0], stack[:, :, 1]])


@pytest.mark.slow
def test_real_kernel_sets() -> None:
    if not (SHARED_KERNELS / "Levin09.mat").is_file() or not (SHARED_KERNELS / "kernels_12.mat").is_file():
        pytest.skip(f"the KAIR kernel sets are not in {SHARED_KERNELS}")
    pytest.importorskip("h5py", reason="Levin09.mat is a MATLAB v7.3 file")
    levin = read_kernels(SHARED_KERNELS / "Levin09.mat")
    kair = read_kernels(SHARED_KERNELS / "kernels_12.mat")
    assert len(levin) == 8 and all(k.ndim == 2 and 13 <= min(k.shape) <= max(k.shape) <= 27 for k in levin)
    assert len(kair) == 12 and all(k.shape == (25, 25) for k in kair)
    assert all(float(k.sum()) == pytest.approx(1.0, abs=1e-5) and k.min() >= 0 for k in levin + kair)
    # kernels_12 holds Levin's 23x23 kernels 7 and 8 (as 9 and 10), padded to 25x25: this checks
    # the v7.3 transposition against the v5 reader.
    np.testing.assert_array_equal(np.pad(levin[6], 1), kair[9])
    np.testing.assert_array_equal(np.pad(levin[7], 1), kair[8])
