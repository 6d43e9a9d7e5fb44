"""Running a sweep (SPEC §6): every alpha on every input, then a gallery folder per input.

:func:`plan_sweep` decides every path before anything runs (a folder per input, one output per
alpha named like any other output, the gallery files) and refuses impossible plans.
:func:`run_sweep` then runs the alphas one after another through :func:`tunecli.runner.run_batch`:
each alpha is baked once (:meth:`tunecli.api.Restorer.baked`) and reused for every input and
tile, inputs and outputs stream through the runner's background threads, and a bad input is
reported once and left out of the later alphas. Finally each folder gets ``grid.png``,
``index.html`` and ``manifest.json`` built from the files just written (one image in memory at
a time), and several inputs get a combined gallery with a row per image.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tunecli.alpha import AlphaSpace, Sweep
from tunecli.device import compute_text
from tunecli.errors import OutputError, UsageError
from tunecli.gallery.grid import (
    MAX_CELL,
    MAX_SHEET_SIDE,
    MIN_CELL,
    AlphaCell,
    DifferenceMap,
    SheetRow,
    arrange,
    build_grid,
    crop_panel,
    crop_window,
    finish_row,
    shrink_row,
    thumbnail,
)
from tunecli.gallery.html import GalleryEntry, GalleryView, write_html
from tunecli.gallery.manifest import (
    InputRecord,
    ModelRecord,
    OutputRecord,
    Quality,
    RunSettings,
    build_manifest,
    measure,
    write_manifest,
)
from tunecli.imageio import (
    DEFAULT_MAX_PIXELS,
    Image,
    ImageMeta,
    format_for_suffix,
    is_image_path,
    read_image,
    write_image,
)
from tunecli.imageio.atomic import atomic_output
from tunecli.runner import (
    BatchInterrupted,
    BatchReporter,
    BatchSummary,
    FileResult,
    Job,
    OutputOptions,
    Plan,
    SilentReporter,
    plan_jobs,
    run_batch,
    run_interruptible,
)

if TYPE_CHECKING:
    from tunecli.api import Restorer, TileSpec

GRID_NAME = "grid.png"
HTML_NAME = "index.html"
MANIFEST_NAME = "manifest.json"
PREVIEW_FOLDER = "previews"
#: A copy of the input (when a browser shows its format), so the gallery folder stands alone.
INPUT_FOLDER = "input"
#: Formats a browser shows; other outputs (TIFF) get an 8-bit PNG preview for the page.
BROWSER_FORMATS = frozenset({"png", "jpeg", "webp", "bmp"})
#: Most images a combined sheet shows (the combined page lists them all).
MAX_COMBINED_ROWS = MAX_SHEET_SIDE // (2 * MIN_CELL + 16)


@dataclass(frozen=True)
class GalleryPlan:
    """One input's gallery: its folder, one job per alpha (sweep order), optional reference."""

    source: Path
    folder: Path
    jobs: tuple[Job, ...]
    reference: Path | None = None

    @property
    def files(self) -> list[Path]:
        """Every file this gallery writes (outputs, previews, grid, page, manifest)."""
        paths = [job.target for job in self.jobs]
        paths += [preview_path(self.folder, job.target) for job in self.jobs if needs_preview(job.target)]
        if needs_preview(self.source):
            paths.append(preview_path(self.folder, self.source))
        return [*paths, self.folder / GRID_NAME, self.folder / HTML_NAME, self.folder / MANIFEST_NAME]


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep will write. ``combined``: the overview folder for several inputs;
    ``ignored`` and ``passed_over`` as in :class:`tunecli.runner.Plan`."""

    task: str
    space: AlphaSpace
    sweep: Sweep
    spec: str
    galleries: tuple[GalleryPlan, ...]
    combined: Path | None
    ignored: int = 0
    passed_over: tuple[Path, ...] = ()

    @property
    def folders(self) -> list[Path]:
        """The folders the sweep writes into: every gallery's, then the overview's."""
        return [gallery.folder for gallery in self.galleries] + ([self.combined] if self.combined else [])

    @property
    def files(self) -> list[Path]:
        paths = [path for gallery in self.galleries for path in gallery.files]
        if self.combined is not None:
            paths += [self.combined / GRID_NAME, self.combined / HTML_NAME, self.combined / MANIFEST_NAME]
        return paths


@dataclass
class SweepSummary:
    """What a sweep did: every output's result (as a batch) and the gallery folders written."""

    batch: BatchSummary
    galleries: list[Path] = field(default_factory=list)
    combined: Path | None = None
    incomplete: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.batch.exit_code


def needs_preview(path: Path) -> bool:
    """True when a browser cannot show ``path`` (TIFF), so the page needs a PNG preview."""
    return format_for_suffix(path) not in BROWSER_FORMATS


def preview_path(folder: Path, image: Path) -> Path:
    return folder / PREVIEW_FOLDER / f"{image.name}.png"


# ---- planning ------------------------------------------------------------------------------------


def plan_sweep(
    inputs: Sequence[Path],
    *,
    task: str,
    space: AlphaSpace,
    sweep: Sweep,
    spec: str,
    options: OutputOptions,
    reference: Path | None = None,
) -> SweepPlan:
    """Decide every path of a sweep; raises :class:`~tunecli.errors.UsageError` before anything
    runs for an impossible plan and :class:`~tunecli.errors.OutputError` when a file exists and
    ``options.existing`` is ``error``.

    Each input gets the folder ``{stem}{suffix}`` with ``{alpha}`` = ``sweep`` (default
    ``cat_denoise_sweep``), next to the input or under ``-o`` (mirroring the tree with ``-r``);
    inside it, one output per alpha named as without ``--sweep`` (``cat_denoise_a0.30.png``).
    ``reference``: a file (one input) or a folder holding a file of the same name per input.
    """
    if "{alpha}" not in options.suffix:
        raise UsageError(f"--suffix {options.suffix!r} needs {{alpha}} with --sweep, or the outputs would collide")
    output = options.output
    if output is not None and is_image_path(output) and not output.is_dir():
        raise UsageError(f"-o {output} names a file; --sweep writes a folder per input, so pass a folder")
    base = plan_jobs(inputs, task=task, label="sweep", options=replace(options, format="same"))
    folders: dict[Path, Path] = {}
    galleries = []
    for job in base.jobs:
        folder = job.target.with_suffix("")
        key = folder.resolve()
        if key in folders:
            raise UsageError(f"{folders[key]} and {job.source} would share the gallery folder {folder}")
        folders[key] = job.source
        targets: dict[Path, str] = {}
        jobs = []
        for omega in sweep.omegas:
            label = space.label(omega)
            (alpha_job,) = plan_jobs([job.source], task=task, label=label, options=replace(options, output=folder)).jobs
            if alpha_job.target in targets:
                raise UsageError(
                    f"sweep {spec!r}: alphas {targets[alpha_job.target]} and {space.describe(omega)} "
                    f"share the file label {label}; space them further apart"
                )
            targets[alpha_job.target] = space.describe(omega)
            jobs.append(alpha_job)
        galleries.append(
            GalleryPlan(job.source, folder, tuple(jobs), _reference_for(job.source, reference, len(base.jobs)))
        )
    combined = None
    if len(galleries) > 1:
        root = output if output is not None else Path(os.path.commonpath([g.folder.parent for g in galleries]))
        combined = root / f"{task}_sweep"
    plan = SweepPlan(task, space, sweep, spec, tuple(galleries), combined, base.ignored, base.passed_over)
    if options.existing == "error":
        existing = [path for path in plan.files if path.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputError(f"{existing[0]}: output exists{more}; pass --overwrite or --skip-existing")
    return plan


def _reference_for(source: Path, reference: Path | None, count: int) -> Path | None:
    if reference is None:
        return None
    if reference.is_dir():
        exact = reference / source.name
        if exact.is_file():
            return exact
        matches = sorted(p for p in reference.glob(f"{source.stem}.*") if is_image_path(p))
        if not matches:
            raise UsageError(f"--reference {reference}: no reference image named like {source.name}")
        return matches[0]
    if not reference.is_file():
        raise UsageError(f"--reference {reference}: no such file or folder")
    if count != 1:
        raise UsageError(f"--reference {reference} is one file for {count} inputs; pass a folder of references")
    return reference


# ---- running -------------------------------------------------------------------------------------


class _OneBatch:
    """Shows the runs of all alphas to a :class:`BatchReporter` as one batch."""

    def __init__(self, inner: BatchReporter, total: int) -> None:
        self.inner = inner
        self.total = total
        self.started = False

    def batch_started(self, total: int) -> None:
        if not self.started:
            self.started = True
            self.inner.batch_started(self.total)

    def file_started(self, job: Job) -> None:
        self.inner.file_started(job)

    def tile_progress(self, done: int, total: int) -> None:
        self.inner.tile_progress(done, total)

    def file_finished(self, result: FileResult) -> None:
        self.inner.file_finished(result)


def run_sweep(
    restorer: Restorer,
    plan: SweepPlan,
    *,
    options: OutputOptions,
    tile: TileSpec = "auto",
    overlap: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    reporter: BatchReporter | None = None,
) -> SweepSummary:
    """Run every alpha of ``plan`` on every input and write the galleries (see the module doc).

    A bad tile/overlap setting or a reference whose size does not match the outputs is a
    :class:`~tunecli.errors.UsageError` before anything runs. Inputs that fail are reported once
    (by the runner) and get no gallery. Ctrl-C raises :class:`~tunecli.runner.BatchInterrupted`
    with the outputs of every alpha so far (the interrupted alpha's unwritten outputs and all
    later alphas count as not started).
    """
    started = time.perf_counter()
    used_overlap = restorer.check_tiling(tile, overlap)
    _check_references(plan, restorer.scale, max_pixels)
    batch, results, alive = _run_alphas(
        restorer,
        plan,
        options=options,
        tile=tile,
        overlap=overlap,
        max_pixels=max_pixels,
        reporter=_OneBatch(reporter or SilentReporter(), len(plan.galleries) * len(plan.sweep.omegas)),
        started=started,
    )
    settings = RunSettings(
        tile=tile,
        overlap=used_overlap,
        device=str(restorer.device),
        precision=restorer.precision,
        ensemble=restorer.ensemble,
    )
    out = _write_galleries(plan, batch, results, alive, model_record(restorer), settings, max_pixels)
    batch.seconds = time.perf_counter() - started
    return out


def _run_alphas(
    restorer: Restorer,
    plan: SweepPlan,
    *,
    options: OutputOptions,
    tile: TileSpec,
    overlap: int | None,
    max_pixels: int,
    reporter: BatchReporter,
    started: float,
) -> tuple[BatchSummary, dict[Job, FileResult], list[int]]:
    """Run the alphas one after another on the inputs still alive (an input whose output fails
    is left out of the later alphas). Returns every result as one batch, the result of each job,
    and the indices of the galleries whose outputs all succeeded. Ctrl-C raises
    :class:`~tunecli.runner.BatchInterrupted` with the batch so far (its clock read from ``started``)."""
    owner = {job: index for index, gallery in enumerate(plan.galleries) for job in gallery.jobs}
    results: dict[Job, FileResult] = {}
    alive = list(range(len(plan.galleries)))
    batch = BatchSummary(ignored=plan.ignored)
    for k, omega in enumerate(plan.sweep.omegas):
        jobs = [plan.galleries[g].jobs[k] for g in alive]
        if not jobs:
            break
        summary, _ = run_interruptible(
            partial(
                run_batch,
                restorer,
                Plan(jobs),
                omega,
                options=options,
                tile=tile,
                overlap=overlap,
                max_pixels=max_pixels,
                reporter=reporter,
            ),
            lambda done: done,
        )
        batch.results.extend(summary.results)
        results.update((r.job, r) for r in summary.results)
        failed = {owner[r.job] for r in summary.results if r.status == "failed"}
        alive = [g for g in alive if g not in failed]
        if summary.interrupted:  # no gallery is written; the later alphas never start
            batch.interrupted = True
            batch.not_started = summary.not_started + (len(plan.sweep.omegas) - k - 1) * len(alive)
            batch.seconds = time.perf_counter() - started
            raise BatchInterrupted(batch) from None
    return batch, results, alive


def _write_galleries(
    plan: SweepPlan,
    batch: BatchSummary,
    results: dict[Job, FileResult],
    alive: list[int],
    model: ModelRecord,
    settings: RunSettings,
    max_pixels: int,
) -> SweepSummary:
    """Write the gallery of every input in ``alive`` (the others are listed as incomplete) and,
    for several inputs, the combined one; returns the sweep's summary around ``batch``."""
    out = SweepSummary(batch)
    combined_rows: list[SheetRow] = []
    combined_entries: list[GalleryEntry] = []
    records: list[InputRecord] = []
    combined_cell = _combined_cell(len(alive), len(plan.sweep.omegas))
    for g, gallery in enumerate(plan.galleries):
        if g not in alive:
            out.incomplete.append(gallery.folder)
            continue
        row, entry, record = write_gallery(
            gallery, plan, [results[job] for job in gallery.jobs], model, settings, max_pixels
        )
        out.galleries.append(gallery.folder)
        records.append(record)
        if plan.combined is not None:
            if len(combined_rows) < MAX_COMBINED_ROWS:
                combined_rows.append(shrink_row(row, combined_cell))
            combined_entries.append(replace(entry, page=gallery.folder / HTML_NAME))
    if plan.combined is not None and records:
        write_combined(plan, combined_rows, combined_entries, records, model, settings, len(alive))
        out.combined = plan.combined
    return out


def model_record(restorer: Restorer) -> ModelRecord:
    """The manifest's description of the model a restorer runs (with the checkpoint's sha256)."""
    loaded = restorer.model
    return ModelRecord(
        name=loaded.name,
        path=str(loaded.info.path),
        sha256=loaded.sha256,
        arch=str(loaded.info.meta.get("arch", "")),
        task=loaded.task,
        scale=loaded.tiling.scale,
    )


def _check_references(plan: SweepPlan, scale: int, max_pixels: int) -> None:
    for gallery in plan.galleries:
        if gallery.reference is None:
            continue
        source = read_image(gallery.source, max_pixels=max_pixels).pixels.shape
        expected = (source[0] * scale, source[1] * scale, source[2])
        found = read_image(gallery.reference, max_pixels=max_pixels).pixels.shape
        if tuple(found) != expected:
            raise UsageError(
                f"--reference {gallery.reference} is {_describe_shape(found)}; outputs of {gallery.source.name} "
                f"will be {_describe_shape(expected)}"
            )


def _describe_shape(shape: Sequence[int]) -> str:
    return f"{shape[1]}x{shape[0]} {'gray' if shape[2] == 1 else 'colour'}"


def _combined_cell(images: int, alphas: int) -> int:
    rows = max(1, min(images, MAX_COMBINED_ROWS))
    fit = min(MAX_CELL, MAX_SHEET_SIDE // (alphas + 2), MAX_SHEET_SIDE // (2 * rows + 1))
    return max(MIN_CELL, fit)


# ---- writing the galleries -------------------------------------------------------------------------


def _input_view(folder: Path, path: Path, pixels: np.ndarray) -> Path:
    """The input as the page shows it, kept inside the gallery so the folder can be moved or
    shared whole: a copy in ``input/`` of a file a browser shows, else the PNG preview."""
    if needs_preview(path):
        return _browser_view(folder, path, pixels)
    target = folder / INPUT_FOLDER / path.name
    with path.open("rb") as source, atomic_output(target, overwrite=True) as copy:
        shutil.copyfileobj(source, copy)
    return target


def _browser_view(folder: Path, path: Path, pixels: np.ndarray) -> Path:
    """``path`` itself when a browser shows it, else an 8-bit PNG preview written beside the gallery."""
    if not needs_preview(path):
        return path
    target = preview_path(folder, path)
    colour = np.clip(np.nan_to_num(pixels), 0.0, 1.0).astype(np.float32)
    mode = "L" if colour.shape[2] == 1 else "RGB"
    preview = Image(colour, None, ImageMeta(format="png", dtype="uint8", mode=mode))
    write_image(target, preview, format="png", bit_depth="8", overwrite=True)
    return target


def _title(plan: SweepPlan, model: ModelRecord, name: str) -> str:
    return f"{name} · {plan.task} · {model.name} · sweep {plan.spec}"


def _alpha_notes(space: AlphaSpace) -> list[str]:
    if space.scalar and (space.low or space.high):
        return [f"alpha 0: {space.low}; alpha 1: {space.high}"]
    return [f"{axis.name}: {axis.meaning}" for axis in space.axes if axis.meaning]


def write_gallery(
    gallery: GalleryPlan,
    plan: SweepPlan,
    results: Sequence[FileResult],
    model: ModelRecord,
    settings: RunSettings,
    max_pixels: int,
) -> tuple[SheetRow, GalleryEntry, InputRecord]:
    """Write ``grid.png``, ``index.html`` and ``manifest.json`` of one input from its outputs on
    disk. Reads each output twice (thumbnail and differences, then the zoomed crop once the
    window is known) so only one output is in memory at a time."""
    space = plan.space
    folder = gallery.folder
    source = read_image(gallery.source, max_pixels=max_pixels)
    reference = read_image(gallery.reference, max_pixels=max_pixels).pixels if gallery.reference else None
    input_thumb = thumbnail(source.pixels)
    input_lines = ["input"]
    input_label = "input"
    if reference is not None and reference.shape == source.pixels.shape:  # not for upscaling
        baseline = measure(source.pixels, reference)
        input_lines.append(f"{baseline.psnr:.2f} dB")
        input_label += f" · {baseline.psnr:.2f} dB · SSIM {baseline.ssim:.4f}"
    views = [GalleryView(input_label, _input_view(folder, gallery.source, source.pixels), input_thumb)]
    record = InputRecord(
        input=str(gallery.source),
        folder=str(folder),
        reference=str(gallery.reference) if gallery.reference else None,
    )
    differences = DifferenceMap()
    thumbs = []
    cells = []
    output_size = (0, 0)
    for k, (job, result) in enumerate(zip(gallery.jobs, results, strict=True)):
        pixels = read_image(job.target, max_pixels=None).pixels
        output_size = pixels.shape[:2]
        differences.add(pixels)
        thumbs.append(thumbnail(pixels))
        quality: Quality | None = measure(pixels, reference) if reference is not None else None
        cell = AlphaCell.of(space, plan.sweep.omegas[k])
        label = " ".join(cell.lines)
        if quality is not None:
            cell = replace(cell, lines=(*cell.lines, f"{quality.psnr:.2f} dB"))
            label += f" · {quality.psnr:.2f} dB · SSIM {quality.ssim:.4f}"
        cells.append(cell)
        views.append(GalleryView(label, _browser_view(folder, job.target, pixels), thumbs[-1]))
        record.outputs.append(OutputRecord(k, job.target.name, result.seconds, result.tile, result.precision, quality))
        del pixels
    box = differences.best_window(*crop_window(*output_size))
    crops = [crop_panel(read_image(job.target, max_pixels=None).pixels, box) for job in gallery.jobs]
    row = finish_row(gallery.source.name, source.pixels, input_thumb, thumbs, crops, box, output_size)
    title = _title(plan, model, gallery.source.name)
    if gallery.reference is not None:
        title += f" · PSNR against {gallery.reference.name}"
    sheet = build_grid([row], cells, arrangement=arrange(plan.sweep, space), title=title, input_lines=input_lines)
    sheet.save(folder / GRID_NAME)
    entry = GalleryEntry(gallery.source.name, tuple(views))
    notes = [*_alpha_notes(space), _settings_note(model, settings)]
    write_html(folder / HTML_NAME, [entry], title=title, notes=notes, grid=folder / GRID_NAME)
    manifest = build_manifest(
        model=model, space=space, sweep=plan.sweep, sweep_text=plan.spec, settings=settings, inputs=[record]
    )
    write_manifest(folder / MANIFEST_NAME, manifest)
    return row, entry, record


def _settings_note(model: ModelRecord, settings: RunSettings) -> str:
    tile = "whole image" if settings.tile == 0 else f"tile {settings.tile}"
    return (
        f"model {model.name} (sha256 {model.sha256[:12]}…) · "
        f"{compute_text(settings.device, settings.precision, settings.ensemble)} · {tile}, overlap {settings.overlap}"
    )


def write_combined(
    plan: SweepPlan,
    rows: list[SheetRow],
    entries: list[GalleryEntry],
    records: list[InputRecord],
    model: ModelRecord,
    settings: RunSettings,
    complete: int,
) -> None:
    """The overview of several inputs: a sheet with a row per image (the first
    :data:`MAX_COMBINED_ROWS`), a page listing every image, and a manifest of them all."""
    assert plan.combined is not None
    folder = plan.combined
    folder.mkdir(parents=True, exist_ok=True)
    title = f"{plan.task} · {model.name} · sweep {plan.spec} · {complete} images"
    if len(rows) < complete:
        title += f" (sheet shows the first {len(rows)})"
    cells = [AlphaCell.of(plan.space, omega) for omega in plan.sweep.omegas]
    build_grid(rows, cells, title=title).save(folder / GRID_NAME)
    notes = [*_alpha_notes(plan.space), _settings_note(model, settings)]
    write_html(folder / HTML_NAME, entries, title=title, notes=notes, grid=folder / GRID_NAME)
    manifest = build_manifest(
        model=model, space=plan.space, sweep=plan.sweep, sweep_text=plan.spec, settings=settings, inputs=records
    )
    write_manifest(folder / MANIFEST_NAME, manifest)
