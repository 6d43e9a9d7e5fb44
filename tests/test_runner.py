"""The batch runner: planning outputs, ordering, failures, overlap of I/O with compute, Ctrl-C."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

import tunecli.runner
from tunecli.api import Restored
from tunecli.errors import InputImageError, OutputError, UsageError
from tunecli.imageio import Image, read_image
from tunecli.runner import (
    BatchInterrupted,
    BatchSummary,
    FileResult,
    Job,
    OutputOptions,
    Plan,
    SilentReporter,
    output_folders,
    plan_jobs,
    prepare_output_folders,
    run_batch,
    run_interruptible,
)

WAIT = 10.0  # seconds; only reached when the behaviour under test is missing


def png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.full((4, 5, 3), value, np.uint8)).save(path)
    return path


def plan(inputs: list[Path], **options: Any) -> Plan:
    return plan_jobs(inputs, task="denoise", label="a0.30", options=OutputOptions(**options))


# ---- planning --------------------------------------------------------------------------------


def test_naming_next_to_the_input_and_by_format(tmp_path: Path) -> None:
    source = png(tmp_path / "Cat.PNG")
    assert plan([source]).jobs == [Job(source, tmp_path / "Cat_denoise_a0.30.png", None)]
    assert plan([source], format="jpg").jobs[0] == Job(source, tmp_path / "Cat_denoise_a0.30.jpg", "jpeg")
    assert plan([source], format="tif", suffix="").jobs[0].target == tmp_path / "Cat.tif"
    assert plan([source], output=tmp_path / "o" / "x.webp").jobs[0] == Job(source, tmp_path / "o" / "x.webp", None)


def test_folders_hidden_files_and_mirroring(tmp_path: Path) -> None:
    root = tmp_path / "in"
    a, b = png(root / "a.png"), png(root / "sub" / "deeper" / "b.png")
    png(root / ".hidden.png")
    png(root / ".cache" / "c.png")
    (root / "readme.md").write_text("x")
    flat = plan([root], output=tmp_path / "out")
    assert [j.target for j in flat.jobs] == [tmp_path / "out" / "a_denoise_a0.30.png"] and flat.ignored == 1
    deep = plan([root], output=tmp_path / "out", recursive=True)
    assert [(j.source, j.target) for j in deep.jobs] == [
        (a, tmp_path / "out" / "a_denoise_a0.30.png"),
        (b, tmp_path / "out" / "sub" / "deeper" / "b_denoise_a0.30.png"),
    ]


def test_links_to_folders_are_passed_over_below_an_input(tmp_path: Path) -> None:
    root = tmp_path / "in"
    a = png(root / "a.png")
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    deep = plan([root], output=tmp_path / "out", recursive=True)
    assert [job.source for job in deep.jobs] == [a]
    assert deep.passed_over == (root / "loop", root / "sub" / "up")
    flat = plan([root], output=tmp_path / "out")  # no subfolders walked, none to report
    assert [job.source for job in flat.jobs] == [a] and flat.passed_over == ()


def test_planning_errors(tmp_path: Path) -> None:
    a = png(tmp_path / "a.png")
    with pytest.raises(UsageError, match=r"^no input given"):
        plan([])
    with pytest.raises(UsageError, match="output would overwrite an input"):
        plan([a], output=a)
    with pytest.raises(UsageError, match=r"unknown image format 'gif' \(use png, jpg, webp, bmp or tif\)"):
        plan([a], format="gif")
    with pytest.raises(UsageError, match="names a file, but there are several inputs"):
        plan([tmp_path], output=tmp_path / "x.png")
    same_stem = png(tmp_path / "a.jpg")
    with pytest.raises(UsageError, match="would both be written to"):
        plan([a, same_stem], format="png")


# ---- summary ---------------------------------------------------------------------------------


def test_exit_codes(tmp_path: Path) -> None:
    job = Job(tmp_path / "a.png", tmp_path / "b.png", None)
    assert BatchSummary([FileResult(job, "done"), FileResult(job, "skipped")]).exit_code == 0
    assert BatchSummary([FileResult(job, "failed", "x", InputImageError("x"))]).exit_code == 1
    assert BatchSummary([FileResult(job, "failed", "x", UsageError("x"))]).exit_code == 2
    assert BatchSummary([FileResult(job, "failed", "x", ValueError("x"))]).exit_code == 1
    assert BatchSummary([FileResult(job, "done"), FileResult(job, "failed", "x", OutputError("x"))]).exit_code == 3


def test_reason_names_the_input_once(tmp_path: Path) -> None:
    job = Job(tmp_path / "a.png", tmp_path / "out" / "a.png", None)
    read_error = f"{job.source}: empty file (0 bytes)"
    assert FileResult(job, "failed", read_error).reason == "empty file (0 bytes)"
    write_error = f"{job.target}: cannot create the folder"  # another path: kept
    assert FileResult(job, "failed", write_error).reason == write_error
    assert FileResult(job, "failed", "RuntimeError: boom").reason == "RuntimeError: boom"
    assert FileResult(job, "done").reason is None


def test_output_folders_are_the_written_ones_and_are_prepared_empty(tmp_path: Path) -> None:
    png(tmp_path / "in" / "a.png")
    png(tmp_path / "in" / "sub" / "c.png")
    out = tmp_path / "out"
    png(out / "a_denoise_a0.30.png")  # exists: skipped or reported, never written
    planned = plan([tmp_path / "in"], output=out, recursive=True)
    for existing in ("skip", "error"):
        assert output_folders(planned, OutputOptions(existing=existing)) == [out / "sub"]
    assert output_folders(planned, OutputOptions(existing="overwrite")) == [out, out / "sub"]
    prepare_output_folders([out / "sub"])
    assert (out / "sub").is_dir() and list((out / "sub").iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"file/out: cannot create this folder \(Not a directory\)$"):
        prepare_output_folders([tmp_path / "file" / "out"])


# ---- running ---------------------------------------------------------------------------------


class InvertingRestorer:
    """Stands in for :class:`tunecli.api.Restorer`: inverts the image, optionally hooked."""

    def __init__(self, hook: Any = None) -> None:
        self.hook = hook
        self.calls = 0

    def restore(self, image: Image, omega: tuple[float, ...], **options: Any) -> Restored:
        self.calls += 1
        if self.hook is not None:
            self.hook(self.calls)
        inverted = Image(1.0 - image.pixels, image.alpha, image.meta)
        return Restored(inverted, tile=0, precision="fp32", notices=("inverted",))


def test_results_follow_the_plan_and_outputs_are_right(tmp_path: Path) -> None:
    sources = [png(tmp_path / f"{i}.png", value=10 * i) for i in range(4)]
    (tmp_path / "bad.png").write_bytes(b"nope")
    jobs = plan([*sources[:2], tmp_path / "bad.png", *sources[2:]], output=tmp_path / "out")
    jobs.jobs[3].target.parent.mkdir()
    jobs.jobs[3].target.write_bytes(b"keep")
    summary = run_batch(
        InvertingRestorer(),  # type: ignore[arg-type]
        jobs,
        (0.7, 0.3),
        options=OutputOptions(existing="skip"),
    )
    assert [r.status for r in summary.results] == ["done", "done", "failed", "skipped", "done"]
    assert summary.results[2].error == f"{tmp_path / 'bad.png'}: not a PNG, JPEG, WebP, BMP or TIFF image"
    assert summary.results[0].notices == ("inverted",)
    assert summary.exit_code == 3
    out = read_image(jobs.jobs[1].target).pixels
    assert np.allclose(out, 1 - 10 / 255, atol=1e-6)
    assert jobs.jobs[3].target.read_bytes() == b"keep"


def test_next_file_is_decoded_while_the_current_one_computes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [png(tmp_path / f"{i}.png", value=i) for i in range(3)]
    reads_started = [threading.Event() for _ in sources]
    original_read = tunecli.runner.read_image

    def tracking_read(path: Path, **kwargs: Any) -> Image:
        reads_started[int(path.stem)].set()
        return original_read(path, **kwargs)

    def wait_for_next_read(call: int) -> None:
        if call < len(sources):
            assert reads_started[call].wait(WAIT), "the next file was not being read during compute"

    monkeypatch.setattr(tunecli.runner, "read_image", tracking_read)
    restorer = InvertingRestorer(wait_for_next_read)
    summary = run_batch(restorer, plan(sources, output=tmp_path / "out"), (0.5, 0.5), options=OutputOptions())  # type: ignore[arg-type]
    assert summary.count("done") == 3


def test_encoding_runs_while_the_next_file_computes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [png(tmp_path / f"{i}.png") for i in range(2)]
    second_compute = threading.Event()
    writes_while_computing: list[bool] = []
    original_write = tunecli.runner.write_image

    def slow_write(path: Path, image: Image, **kwargs: Any) -> list[str]:
        if path.stem.startswith("0"):
            writes_while_computing.append(second_compute.wait(WAIT))
        return original_write(path, image, **kwargs)

    monkeypatch.setattr(tunecli.runner, "write_image", slow_write)
    restorer = InvertingRestorer(lambda call: second_compute.set() if call == 2 else None)
    summary = run_batch(restorer, plan(sources), (0.5, 0.5), options=OutputOptions())  # type: ignore[arg-type]
    assert writes_while_computing == [True]
    assert summary.count("done") == 2


def test_interrupt_propagates_and_leaves_only_complete_files(tmp_path: Path) -> None:
    sources = [png(tmp_path / "in" / f"{i}.png") for i in range(3)]

    def interrupt(call: int) -> None:
        if call == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(
            InvertingRestorer(interrupt),  # type: ignore[arg-type]
            plan(sources, output=tmp_path / "out"),
            (0.5, 0.5),
            options=OutputOptions(),
        )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0_denoise_a0.30.png"]
    read_image(tmp_path / "out" / "0_denoise_a0.30.png")


class RecordingReporter(SilentReporter):
    """Keeps every finished result, as the CLI's reporter prints a line for each."""

    def __init__(self) -> None:
        self.finished: list[FileResult] = []

    def file_finished(self, result: FileResult) -> None:
        self.finished.append(result)


def test_interrupt_reports_the_write_in_flight_and_carries_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the first output is still being written: that write finishes, is reported
    (the CLI's `wrote:` line) and counted; the other two never start."""
    sources = [png(tmp_path / "in" / f"{i}.png") for i in range(3)]
    interrupted = threading.Event()
    original_write = tunecli.runner.write_image

    def write_after_the_interrupt(path: Path, image: Image, **kwargs: Any) -> list[str]:
        assert interrupted.wait(WAIT)
        return original_write(path, image, **kwargs)

    def interrupt(call: int) -> None:
        if call == 2:
            interrupted.set()
            raise KeyboardInterrupt

    monkeypatch.setattr(tunecli.runner, "write_image", write_after_the_interrupt)
    reporter = RecordingReporter()
    with pytest.raises(BatchInterrupted) as caught:
        run_batch(
            InvertingRestorer(interrupt),  # type: ignore[arg-type]
            plan(sources, output=tmp_path / "out"),
            (0.5, 0.5),
            options=OutputOptions(),
            reporter=reporter,
        )
    target = tmp_path / "out" / "0_denoise_a0.30.png"
    assert [(r.job.target, r.status) for r in reporter.finished] == [(target, "done")]
    summary = caught.value.summary
    assert summary.results == reporter.finished
    assert (summary.interrupted, summary.not_started, summary.exit_code) == (True, 2, 130)
    assert summary.counts_text().startswith("1 done, 0 skipped, 0 failed, 2 not started (interrupted) in ")
    assert summary.to_json()["not_started"] == 2 and summary.to_json()["interrupted"] is True
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [target.name]


def test_run_interruptible_hands_back_the_partial_summary_and_the_interrupt() -> None:
    finished = BatchSummary(ignored=2)
    assert run_interruptible(lambda: finished, len) == (finished, None)

    partial = BatchSummary(interrupted=True, not_started=3)

    def stopped() -> BatchSummary:
        raise BatchInterrupted(partial)

    summary, interrupt = run_interruptible(stopped, lambda done: (done.not_started, done.interrupted))
    assert summary == (3, True)
    assert isinstance(interrupt, BatchInterrupted) and interrupt.summary is partial

    def ctrl_c() -> BatchSummary:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a Ctrl-C that no batch caught has no summary to give
        run_interruptible(ctrl_c, len)
