"""Bad inputs, unwritable outputs and Ctrl-C through the CLI: one line per failure, the right exit
code, inputs byte-for-byte unchanged and no partial output."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from typer.testing import Result

from tunecli.api import Restorer
from tunecli.cli.console import BatchProgress
from tunecli.errors import InputImageError
from tunecli.imageio import read_image
from tunecli.runner import FileResult

RunCli = Callable[..., Result]
WritePng = Callable[..., Path]
Snapshot = Callable[[Path], dict[str, bytes]]


def _encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (32, 32), **options: object) -> bytes:
    rng = np.random.default_rng(7)
    channels = {"RGB": 3, "CMYK": 4}[mode]
    data = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(data, mode).save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb_png() -> bytes:
    """A valid-looking PNG header that declares 60000 x 60000 pixels (3.6 gigapixels)."""
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _palette_png_with_transparency() -> bytes:
    image = PILImage.new("P", (9, 7))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.putdata([i % 3 for i in range(63)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def _float_tiff_with_nan() -> bytes:
    data = np.random.default_rng(3).random((8, 8, 3), dtype=np.float32)
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, data, photometric="rgb")
    return buffer.getvalue()


def make_corpus(folder: Path, write_png: WritePng) -> None:
    """The bad-input corpus of issue 3 (plus the odd-but-valid files that must go through)."""
    folder.mkdir(parents=True)
    png, jpeg, tiff = _encoded("PNG"), _encoded("JPEG", quality=90), _encoded("TIFF")
    files = {
        "zero.png": b"",
        "truncated.png": png[: len(png) * 6 // 10],
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.tif": tiff[: len(tiff) // 2],
        "text.png": b"this is a text file, not a PNG\n",
        "bomb.png": _bomb_png(),
        "cmyk.jpg": _encoded("JPEG", mode="CMYK"),
        "palette.png": _palette_png_with_transparency(),
        "nan.tif": _float_tiff_with_nan(),
        "notes.txt": b"not an image, passed over",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    write_png(folder / "one.png", height=1, width=1)


def expected_errors(folder: Path) -> dict[str, str | None]:
    """Each image's one-line read error (None when it reads), straight from the one reader."""
    outcome: dict[str, str | None] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".txt":
            continue
        try:
            read_image(path)
            outcome[path.name] = None
        except InputImageError as err:
            outcome[path.name] = str(err)
    return outcome


def test_bad_input_corpus(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, write_png)
    before = snapshot(corpus)
    expected = expected_errors(corpus)
    bad = {"zero.png", "truncated.png", "truncated.jpg", "truncated.tif", "text.png", "bomb.png"}
    assert {name for name, err in expected.items() if err} >= bad
    assert expected["one.png"] is None and expected["cmyk.jpg"] is None and expected["palette.png"] is None

    result = run_cli("denoise", "-m", model, corpus, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    statuses = {Path(f["input"]).name: (f["status"], f.get("error")) for f in report["files"]}
    for name, error in expected.items():
        if error is None:
            assert statuses[name] == ("done", None), name
        else:
            assert statuses[name] == ("failed", error), name
            assert error.startswith(f"{corpus / name}: ")  # the reader names the file; the line does so once
            assert f"failed: {error}\n" in result.stderr
            assert "\n" not in error
    assert report["ignored_files"] == 1
    assert "palette image converted to RGBA" in result.stderr

    assert snapshot(corpus) == before  # inputs byte-for-byte unchanged
    written = sorted(snapshot(tmp_path / "out"))  # only complete outputs, no temporary files
    assert written == sorted(f"{Path(n).stem}_denoise_a0.50{Path(n).suffix}" for n, e in expected.items() if e is None)
    for name in written:
        read_image(tmp_path / "out" / name)


@pytest.mark.parametrize("name", ["zero.png", "text.png", "truncated.jpg", "bomb.png"])
def test_single_bad_file_exit_code_and_one_line(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, name: str
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, write_png)
    error = expected_errors(corpus)[name]
    result = run_cli("denoise", "-m", model, corpus / name, "-q")
    assert result.exit_code == 1
    assert result.stderr == f"failed: {error}\n"
    assert result.stderr.count(str(corpus / name)) == 1
    assert sorted(p.name for p in corpus.iterdir() if "_denoise_" in p.name or p.name.startswith(".")) == []


@pytest.fixture()
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a model is loaded: output checks must come before any model runs."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the output folder was checked")

    monkeypatch.setattr("tunecli.api.load", refuse)


@pytest.mark.parametrize("sweep", [[], ["--sweep", "0,1"]], ids=["alpha", "sweep"])
def test_output_folder_that_cannot_be_created_stops_before_any_model_runs(
    run_cli: RunCli,
    model: Path,
    write_png: WritePng,
    tmp_path: Path,
    snapshot: Snapshot,
    no_model_load: None,
    sweep: list[str],
) -> None:
    a, b = write_png(tmp_path / "in" / "a.png"), write_png(tmp_path / "in" / "b.png", seed=2)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = run_cli("denoise", "-m", model, a, b, "-o", blocker / "out", *sweep)
    assert result.exit_code == 2, result.output
    folder = blocker / "out" / ("a_denoise_sweep" if sweep else "")  # a sweep's first folder is a gallery's
    assert result.stderr == f"error: {folder}: cannot create this folder (Not a directory)\n"
    assert sorted(snapshot(tmp_path)) == ["blocker", "in/a.png", "in/b.png", "models/denoise-test.safetensors"]


def test_output_folder_without_write_permission_stops_before_any_model_runs(
    run_cli: RunCli,
    model: Path,
    write_png: WritePng,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_model_load: None,
) -> None:
    """Root writes through any folder mode, so the folder's refusal is played by os.open; the probe
    (create a temporary file, remove it) is the real one."""
    source = write_png(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_open = os.open

    def refusing_open(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)).parent == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    result = run_cli("denoise", "-m", model, source, "-o", locked)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {locked}: cannot write into this folder (Permission denied)\n"
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_folder(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run_cli("denoise", "-m", model, source, "-o", locked)
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2
    assert result.stderr == f"error: {locked}: cannot write into this folder (Permission denied)\n"
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("where", ["restorer", "reporter"])
def test_ctrl_c_exits_130_with_a_summary_and_leaves_no_partial_file(
    run_cli: RunCli,
    model: Path,
    write_png: WritePng,
    tmp_path: Path,
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """Ctrl-C during the second image's compute, or while the first `wrote:` line is printed:
    every output on disk is complete and has its `wrote:` line, and a summary line counts what
    was done and what never started before `error: interrupted`."""
    for i in range(3):
        write_png(tmp_path / "in" / f"{i}.png", seed=i)
    before = snapshot(tmp_path / "in")
    if where == "restorer":
        original = Restorer.restore
        calls = []

        def interrupted_on_the_second_image(self: Restorer, *args: object, **kwargs: object) -> object:
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Restorer, "restore", interrupted_on_the_second_image)
    else:
        original_finished = BatchProgress.file_finished
        lines = []

        def interrupted_after_the_first_line(self: BatchProgress, result: FileResult) -> None:
            original_finished(self, result)
            lines.append(1)
            if len(lines) == 1:
                raise KeyboardInterrupt

        monkeypatch.setattr(BatchProgress, "file_finished", interrupted_after_the_first_line)
    result = run_cli("denoise", "-m", model, tmp_path / "in", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 130
    assert result.stderr.endswith("error: interrupted\n")
    written = sorted(snapshot(tmp_path / "out"))
    assert written[:1] == ["0_denoise_a0.50.png"]  # the first image was always finished
    if where == "restorer":
        assert written == ["0_denoise_a0.50.png"]
    for name in written:
        read_image(tmp_path / "out" / name)
        assert result.stderr.count(f"wrote: {tmp_path / 'out' / name} (") == 1
    assert result.stderr.count("wrote: ") == len(written)
    summary_line = result.stderr.splitlines()[-2]
    assert summary_line.startswith(
        f"{len(written)} done, 0 skipped, 0 failed, {3 - len(written)} not started (interrupted) in "
    )
    report = json.loads(result.stdout)
    assert (report["done"], report["not_started"], report["interrupted"], report["exit_code"]) == (
        len(written),
        3 - len(written),
        True,
        130,
    )
    assert snapshot(tmp_path / "in") == before
