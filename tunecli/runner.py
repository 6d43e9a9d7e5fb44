"""Batch runs: input files and folders → planned output paths → restored files (SPEC §4, §5).

:func:`plan_jobs` turns the user's inputs and output options into (input, output) pairs and
rejects impossible plans before anything runs (an output that is an input, two inputs with one
output, ``-o FILE`` for several inputs). :func:`run_batch` then processes them: the next file
is decoded and the previous one encoded on background threads while the model runs, a bad file
is reported and skipped, and every output is written atomically by
:func:`tunecli.imageio.write_image`. Inputs and outputs may be URIs (``s3://…``, ``file:///…``:
:class:`~tunecli.imageio.remote.RemotePath`), planned and checked by the same steps through their
filesystem. Rendering is the caller's: events go to a :class:`BatchReporter`.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from tunecli.alpha import Omega
from tunecli.errors import INTERRUPTED, OutputError, TunecliError, UsageError
from tunecli.imageio import (
    DEFAULT_MAX_PIXELS,
    Image,
    canonical_format,
    format_for_suffix,
    is_image_path,
    output_suffix,
    read_image,
    write_image,
)
from tunecli.imageio.atomic import check_writable_folder, exists_message
from tunecli.imageio.remote import Location, RemotePath

if TYPE_CHECKING:  # the runner plans without torch; only running needs tunecli.api
    import numpy as np

    from tunecli.api import Restored, Restorer, TileSpec
    from tunecli.estimation.auto_alpha import AutoAlpha

ExistingPolicy = Literal["error", "skip", "overwrite"]
Status = Literal["done", "skipped", "failed"]

DEFAULT_SUFFIX = "_{task}_{alpha}"


@dataclass(frozen=True)
class OutputOptions:
    """Where and how outputs are written.

    ``output``: a file (one input) or a folder, local or a URI; ``None`` writes next to each input.
    ``suffix``: appended to the input stem; ``{task}`` and ``{alpha}`` are filled in.
    ``format``: ``same`` (the input's format) or a format name; ``bit_depth``: ``auto`` (the
    input's), ``8``, ``16`` or ``32f``; ``existing``: what to do when an output already exists.
    """

    output: Location | None = None
    recursive: bool = False
    suffix: str = DEFAULT_SUFFIX
    format: str = "same"
    quality: int | None = None
    bit_depth: str = "auto"
    existing: ExistingPolicy = "error"


@dataclass(frozen=True)
class Job:
    """One input file and the output path it will be written to (``format``: None = by suffix).

    ``suffix_template``: set when the alpha label is chosen per image (``--alpha auto``): the
    output suffix with ``{alpha}`` still to fill in; ``target`` then holds a placeholder label
    until :meth:`with_label` gives the real one.
    """

    source: Location
    target: Location
    format: str | None
    suffix_template: str | None = None

    def with_label(self, label: str) -> Job:
        """The job with its output named after ``label`` (itself when its name is fixed)."""
        if self.suffix_template is None:
            return self
        name = f"{self.source.stem}{self.suffix_template.replace('{alpha}', label)}{self.target.suffix}"
        return replace(self, target=self.target.with_name(name), suffix_template=None)


@dataclass(frozen=True)
class Plan:
    """The planned jobs, how many non-image files were passed over in input folders, and the
    links to folders that a recursive walk passed over (see :func:`plan_jobs`)."""

    jobs: list[Job]
    ignored: int = 0
    passed_over: tuple[Path, ...] = ()


@dataclass
class FileResult:
    """What happened to one job. ``error`` is a one-line message when ``status == "failed"``."""

    job: Job
    status: Status
    error: str | None = None
    exception: BaseException | None = None
    seconds: float = 0.0
    tile: int | None = None
    precision: str | None = None
    notices: tuple[str, ...] = ()
    #: with ``--alpha auto``: the estimated noise level and the ω the file was restored at
    alpha_auto: AutoAlpha | None = None

    @property
    def reason(self) -> str | None:
        """``error`` without its leading ``"{input}: "`` (the reader's errors start with the input's
        path), for a report line that names the input itself once."""
        if self.error is None:
            return None
        prefix = f"{self.job.source}: "
        return self.error[len(prefix) :] if self.error.startswith(prefix) else self.error

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": str(self.job.source),
            "output": str(self.job.target),
            "status": self.status,
            "seconds": round(self.seconds, 4),
        }
        if self.error is not None:
            data["error"] = self.error
        if self.tile is not None:
            data["tile"] = self.tile
        if self.precision is not None:
            data["precision"] = self.precision
        if self.alpha_auto is not None:
            data["alpha_auto"] = self.alpha_auto.to_json()
        if self.notices:
            data["notices"] = list(self.notices)
        return data


@dataclass
class BatchSummary:
    """Every job's result and the run's totals; :attr:`exit_code` follows SPEC §5.

    ``interrupted``: the run was stopped by Ctrl-C; ``not_started`` planned outputs were then
    never written (their jobs have no result).
    """

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    ignored: int = 0
    interrupted: bool = False
    not_started: int = 0

    def counts_text(self) -> str:
        """``"3 done, 0 skipped, 1 failed in 2.5 s"`` — the summary line's common part (after
        Ctrl-C: ``"1 done, 0 skipped, 0 failed, 2 not started (interrupted) in 0.4 s"``)."""
        stopped = f", {self.not_started} not started (interrupted)" if self.interrupted else ""
        return (
            f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed"
            f"{stopped} in {self.seconds:.1f} s"
        )

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """130 when interrupted; else 0 when nothing failed; a lone failed file keeps its error's
        code; a batch with failures 3."""
        if self.interrupted:
            return INTERRUPTED
        failed = [r for r in self.results if r.status == "failed"]
        if not failed:
            return 0
        if len(self.results) == 1:
            error = failed[0].exception
            return error.exit_code if isinstance(error, TunecliError) else 1
        return 3

    def to_json(self) -> dict[str, Any]:
        return {
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "ignored_files": self.ignored,
            "interrupted": self.interrupted,
            "not_started": self.not_started,
            "seconds": round(self.seconds, 4),
            "files": [r.to_json() for r in self.results],
        }


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch; ``summary`` holds what was finished before (``interrupted`` set),
    so the caller can report it before exiting 130."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__()
        self.summary = summary


SummaryT = TypeVar("SummaryT")


def run_interruptible(
    run: Callable[[], SummaryT], partial_summary: Callable[[BatchSummary], SummaryT]
) -> tuple[SummaryT, BatchInterrupted | None]:
    """``(run(), None)``, or when Ctrl-C stops the run (:class:`BatchInterrupted`) the summary of
    what was finished, as ``partial_summary`` makes it from the batch's, and the interrupt: the
    caller reports that summary, then raises the interrupt again (or goes on without it)."""
    try:
        return run(), None
    except BatchInterrupted as stop:
        return partial_summary(stop.summary), stop


class BatchReporter(Protocol):
    """Receives a batch's events on the calling thread (the CLI renders them with rich)."""

    def batch_started(self, total: int) -> None: ...

    def file_started(self, job: Job) -> None: ...

    def tile_progress(self, done: int, total: int) -> None: ...

    def file_finished(self, result: FileResult) -> None: ...


class SilentReporter:
    """A :class:`BatchReporter` that ignores every event."""

    def batch_started(self, total: int) -> None:
        pass

    def file_started(self, job: Job) -> None:
        pass

    def tile_progress(self, done: int, total: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        pass


# ---- planning --------------------------------------------------------------------------------


def _walk(folder: Location, recursive: bool, passed_over: list[Path]) -> Iterator[Location]:
    """Files of ``folder`` (and below it with ``recursive``), sorted, hidden entries skipped.

    Links to folders below ``folder`` are never followed but appended to ``passed_over``: a
    link may point back up the tree (``loop -> .``) or to a folder walked anyway, so following
    them would repeat images. ``folder`` itself may be a link (the user named it).
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as err:
        raise UsageError(f"{folder}: cannot list folder ({err.strerror or err})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not recursive:
                continue
            if isinstance(entry, Path) and entry.is_symlink():
                passed_over.append(entry)
            else:
                yield from _walk(entry, recursive, passed_over)
        elif entry.is_file():
            yield entry


def _output_name(source: Location, task: str, label: str, options: OutputOptions, fmt: str | None) -> str:
    suffix = options.suffix.replace("{task}", task).replace("{alpha}", label)
    extension = output_suffix(fmt) if fmt is not None else source.suffix.lower()
    return f"{source.stem}{suffix}{extension}"


def _same_file(a: Location, b: Location) -> bool:
    if a.resolve() == b.resolve():
        return True
    if isinstance(a, RemotePath) or isinstance(b, RemotePath):  # a URI has no other names
        return False
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def plan_jobs(
    inputs: Sequence[Location], *, task: str, label: str, options: OutputOptions, label_per_image: bool = False
) -> Plan:
    """Pair every input image with its output path (SPEC §4).

    ``inputs``: files and folders, local or URIs (with ``options.recursive`` folders are walked and the tree is
    mirrored under ``options.output``; links to folders met on the way are not followed but
    listed in :attr:`Plan.passed_over`, so every folder of the tree is walked once).
    ``label_per_image`` (``--alpha auto``): ``label`` is a placeholder and each job whose name
    holds it keeps its suffix template, for :meth:`Job.with_label` once its image's alpha is
    chosen (an output named by ``-o FILE`` or a suffix without ``{alpha}`` is fixed now). Raises
    :class:`~tunecli.errors.UsageError` — before any file is touched — for a missing input, no
    images at all, a bad ``-o``/``--suffix``/``--format``, an output path equal to an input, or
    two inputs sharing one output.
    """
    if not inputs:
        raise UsageError("no input given: pass image files or folders")
    if os.sep in options.suffix or (os.altsep and os.altsep in options.suffix):
        raise UsageError(f"--suffix {options.suffix!r} must not contain a path separator")
    out_format = None if options.format == "same" else _checked_format(options.format)

    sources: list[tuple[Location, Location | None]] = []  # (file, folder it was found under)
    ignored = 0
    passed_over: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found = 0
            for path in _walk(given, options.recursive, passed_over):
                if is_image_path(path.name):
                    sources.append((path, given))
                    found += 1
                else:
                    ignored += 1
            if found == 0:
                hint = "" if options.recursive else " (use -r to include subfolders)"
                raise UsageError(f"{given}: no images found in this folder{hint}")
        elif given.exists():
            sources.append((given, None))
        else:
            raise UsageError(f"{given}: no such file or folder")

    output = options.output
    to_file = output is not None and not output.is_dir() and is_image_path(output.name)
    if to_file:
        assert output is not None
        if len(sources) != 1 or sources[0][1] is not None:
            raise UsageError(f"-o {output} names a file, but there are several inputs; pass a folder")
        suffix_format = format_for_suffix(output.name)
        if out_format is not None and suffix_format != out_format:
            raise UsageError(f"-o {output} does not match --format {options.format}")
        jobs = [Job(sources[0][0], output, out_format)]
    else:
        jobs = []
        for source, root in sources:
            if output is None:
                folder = source.parent
            elif root is None:
                folder = output
            else:
                folder = output / source.parent.relative_to(root)
            # a name without {alpha} is known now, so a clash is found before any estimate
            per_image = label_per_image and "{alpha}" in options.suffix
            template = options.suffix.replace("{task}", task) if per_image else None
            target = folder / _output_name(source, task, label, options, out_format)
            jobs.append(Job(source, target, out_format, template))

    _check_collisions(jobs)
    return Plan(jobs, ignored, tuple(passed_over))


def _checked_format(name: str) -> str:
    try:
        return canonical_format(name)
    except OutputError as err:
        raise UsageError(str(err)) from None


def _check_collisions(jobs: list[Job]) -> None:
    sources = [job.source for job in jobs]
    seen: dict[Location, Job] = {}
    for job in jobs:
        if any(_same_file(job.target, source) for source in sources):
            raise UsageError(f"{job.target}: output would overwrite an input; choose another -o or --suffix")
        key = job.target.resolve()
        if key in seen:
            raise UsageError(f"{seen[key].source} and {job.source} would both be written to {job.target}")
        seen[key] = job


def output_folders(plan: Plan, options: OutputOptions) -> list[Location]:
    """The folders a run of ``plan`` will write into, sorted (local ones first): those of the jobs
    whose output does not exist yet or is to be replaced (an existing output is skipped or
    reported, not written)."""
    folders = {job.target.parent for job in plan.jobs if options.existing == "overwrite" or not job.target.exists()}
    return sorted(folders, key=lambda folder: (isinstance(folder, RemotePath), folder))


def prepare_output_folders(folders: Iterable[Location]) -> None:
    """Create every output folder and prove it writable, before any model runs, so an unwritable
    ``-o`` is found at once rather than after every image was computed.

    Raises :class:`~tunecli.errors.UsageError` (exit 2) naming the first folder that cannot be
    created or written (see :func:`tunecli.imageio.atomic.check_writable_folder`; a URI's folder
    through its filesystem).
    """
    for folder in folders:
        try:
            if isinstance(folder, RemotePath):
                folder.check_writable_folder()
            else:
                check_writable_folder(folder)
        except OutputError as err:
            raise UsageError(str(err)) from None


# ---- running ---------------------------------------------------------------------------------


@dataclass
class StartedJob:
    """A job whose compute finished and whose write runs in the background."""

    job: Job
    began: float
    restored: Restored
    write: Future[list[str]]


#: The ``omega`` of :func:`run_batch` that picks each image's alpha from its estimated noise.
AUTO: Literal["auto"] = "auto"


def io_threads() -> int:
    """Threads that decode inputs, and threads that encode outputs, beside the model: one per
    core (a GPU run is decode-bound with a single reader)."""
    return os.cpu_count() or 1


def run_batch(
    restorer: Restorer,
    plan: Plan,
    omega: Omega | str,
    *,
    options: OutputOptions,
    tile: TileSpec = "auto",
    overlap: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    reporter: BatchReporter | None = None,
    alpha_map: np.ndarray | None = None,
    alpha_map_mode: str = "exact",
) -> BatchSummary:
    """Restore every planned input at ``omega`` and write its output.

    With ``alpha_map`` (float ``(H, W[, C])`` in [0, 1]) every input runs with that alpha per
    pixel instead (:meth:`~tunecli.api.Restorer.restore_map`, resized to each input).

    ``omega`` :data:`AUTO` (``--alpha auto``, or a box model's ``noise=auto,blur=0.7``): each image runs at the ω that
    :meth:`~tunecli.api.Restorer.auto_alpha` chooses for it (estimated with the decoding, on the
    background thread); its output is named after that alpha (jobs planned with
    ``label_per_image``), its result records the choice and its first notice is the note line.
    The next input is decoded and finished outputs are encoded on background threads. A file
    that fails is recorded with a one-line error and the batch goes on. On ``KeyboardInterrupt``
    queued work is dropped, writes already running finish (each is atomic, so no partial file
    exists) and are reported to ``reporter`` like any other, and :class:`BatchInterrupted`
    is raised with the summary of what was finished.
    """
    return BatchRun(
        restorer,
        plan,
        omega,
        options=options,
        tile=tile,
        overlap=overlap,
        max_pixels=max_pixels,
        reporter=reporter or SilentReporter(),
        alpha_map=alpha_map,
        alpha_map_mode=alpha_map_mode,
    ).run()


@dataclass
class BatchRun:
    """One :func:`run_batch` call: its arguments, the summary it fills in and the jobs' order
    (a job renamed after its chosen alpha keeps its place)."""

    restorer: Restorer
    plan: Plan
    omega: Omega | str
    options: OutputOptions
    tile: TileSpec
    overlap: int | None
    max_pixels: int
    reporter: BatchReporter
    alpha_map: np.ndarray | None
    alpha_map_mode: str
    summary: BatchSummary = field(init=False)
    order: dict[Job, int] = field(init=False)
    sources: list[Location] = field(init=False)

    def __post_init__(self) -> None:
        self.summary = BatchSummary(ignored=self.plan.ignored)
        self.order = {job: index for index, job in enumerate(self.plan.jobs)}
        self.sources = [job.source for job in self.plan.jobs]

    @property
    def fixed(self) -> Omega | None:
        """The ω every image runs at; None with :data:`AUTO` (chosen per image)."""
        return self.omega if isinstance(self.omega, tuple) else None

    def run(self) -> BatchSummary:
        """Run every job and return the summary, or raise :class:`BatchInterrupted` (see
        :func:`run_batch`)."""
        started_at = time.perf_counter()
        self.reporter.batch_started(len(self.plan.jobs))
        reader = ThreadPoolExecutor(max_workers=io_threads(), thread_name_prefix="tunecli-read")
        writer = ThreadPoolExecutor(max_workers=io_threads(), thread_name_prefix="tunecli-write")
        writing: list[StartedJob] = []
        interrupted = False
        try:
            self._run_jobs(reader, writer, writing)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            reader.shutdown(wait=True, cancel_futures=True)
            writer.shutdown(wait=True, cancel_futures=True)
        summary = self.summary
        if interrupted:
            reported = {result.job for result in summary.results}
            for entry in writing:  # writes that ran to their end get their line; cancelled ones never began
                if not entry.write.cancelled() and entry.job not in reported:
                    self.collect(entry)
        summary.results.sort(key=lambda result: self.order[result.job])
        summary.seconds = time.perf_counter() - started_at
        if interrupted:
            summary.interrupted = True
            summary.not_started = len(self.plan.jobs) - len(summary.results)
            raise BatchInterrupted(summary)
        return summary

    def _run_jobs(self, reader: ThreadPoolExecutor, writer: ThreadPoolExecutor, writing: list[StartedJob]) -> None:
        """Report the jobs held back, then restore the others in order while the next inputs
        decode on ``reader`` (one per thread ahead) and finished outputs encode on ``writer``.
        ``writing``: the writes not reported yet (after Ctrl-C, :meth:`run` reports those that
        ran to their end)."""
        runnable: list[Job] = []
        for job in self.plan.jobs:
            held = held_back(job, self.options) if job.suffix_template is None else None  # else: once named
            if held is not None:
                self._finish(held)
            else:
                runnable.append(job)
        ahead = iter(runnable)
        pending = deque(reader.submit(self._read, job) for job in islice(ahead, io_threads()))
        for job in runnable:
            began = time.perf_counter()
            current = pending.popleft()
            following = next(ahead, None)
            if following is not None:
                pending.append(reader.submit(self._read, following))
            self.reporter.file_started(job)
            computed = self._compute(job, current, began)
            if computed is None:
                continue
            named, restored = computed
            writing.append(StartedJob(named, began, restored, writer.submit(self._write, named, restored.image)))
            while writing and writing[0].write.done():
                self.collect(writing[0])
                writing.pop(0)
        while writing:
            self.collect(writing[0])  # popped only once reported, so an interrupt here loses no file
            writing.pop(0)

    def _compute(
        self, job: Job, decoded: Future[tuple[Image, AutoAlpha | None]], began: float
    ) -> tuple[Job, Restored] | None:
        """Restore the decoded input of ``job`` — named after its alpha first when that is chosen
        per image — and return the job and its result; None when the job was reported instead
        (its named output is held back, or it failed)."""
        try:
            image, chosen = decoded.result()
            if chosen is not None and job.suffix_template is not None:
                named = job.with_label(self.restorer.alpha_space.label(chosen.omega))
                self.order[named] = self.order[job]
                job = named
                held = held_back(job, self.options, self.sources)
                if held is not None:
                    self._finish(replace(held, alpha_auto=chosen))
                    return None
            run_at = chosen if chosen is not None else self.fixed
            assert run_at is not None
            progress = self.reporter.tile_progress
            if self.alpha_map is not None:
                restored = self.restorer.restore_map(
                    image,
                    self.alpha_map,
                    mode=self.alpha_map_mode,
                    tile=self.tile,
                    overlap=self.overlap,
                    progress=progress,
                )
            else:
                restored = self.restorer.restore(image, run_at, tile=self.tile, overlap=self.overlap, progress=progress)
        except Exception as err:  # one bad file must not end the batch (SPEC §4)
            self._finish(FileResult(job, "failed", failure_text(err), err, seconds=time.perf_counter() - began))
            return None
        return job, restored

    def _read(self, job: Job) -> tuple[Image, AutoAlpha | None]:
        """Decode the input of ``job`` and, with :data:`AUTO`, choose its alpha (a background thread)."""
        image = read_image(job.source, max_pixels=self.max_pixels)
        return image, self.choose_alpha(job, image)

    def choose_alpha(self, job: Job, image: Image) -> AutoAlpha | None:
        """With :data:`AUTO`, the alpha the restorer chooses for ``image`` (the input of ``job``); else None."""
        if self.fixed is not None:
            return None
        return self.restorer.auto_alpha(image, str(job.source), str(self.omega))

    def _write(self, job: Job, image: Image) -> list[str]:
        """Encode the output of ``job`` atomically; its notices (a background thread)."""
        return write_image(
            job.target,
            image,
            format=job.format,
            quality=self.options.quality,
            bit_depth=self.options.bit_depth,
            overwrite=self.options.existing == "overwrite",
        )

    def collect(self, entry: StartedJob) -> None:
        """Wait for the write of ``entry`` and report the job as done or failed."""
        error = entry.write.exception()
        restored = entry.restored
        note = restored.notices[:1] if restored.alpha_auto is not None else ()  # the auto-alpha note leads
        notices = (
            *note,
            *restored.image.meta.notices,
            *restored.notices[len(note) :],
            *([] if error else entry.write.result()),
        )
        result = FileResult(
            entry.job,
            "done" if error is None else "failed",
            None if error is None else failure_text(error),
            error,
            seconds=time.perf_counter() - entry.began,
            tile=restored.tile,
            precision=restored.precision,
            notices=notices,
            alpha_auto=restored.alpha_auto,
        )
        self._finish(result)

    def _finish(self, result: FileResult) -> None:
        self.summary.results.append(result)
        self.reporter.file_finished(result)


def held_back(job: Job, options: OutputOptions, sources: Sequence[Location] = ()) -> FileResult | None:
    """The result of a job that must not be computed — its output exists and is to be kept
    (skipped, or failed in the writer's words: it checks again when writing), or would replace
    one of ``sources`` — else None."""
    if any(_same_file(job.target, source) for source in sources):
        error: TunecliError = OutputError(
            f"{job.target}: output would overwrite an input; choose another -o or --suffix"
        )
        return FileResult(job, "failed", str(error), error)
    if not job.target.exists() or options.existing == "overwrite":
        return None
    if options.existing == "skip":
        return FileResult(job, "skipped")
    error = OutputError(exists_message(job.target))
    return FileResult(job, "failed", str(error), error)


def failure_text(error: BaseException) -> str:
    """A one-line message: a tunecli error's own text, otherwise its type and first line."""
    if isinstance(error, TunecliError):
        return str(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
