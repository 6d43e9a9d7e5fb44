"""Batch runs on Ray (``--engine ray``): the local runner's steps, spread over a Ray cluster.

The plan is :func:`tunecli.runner.plan_jobs`'s and outputs held back (existing, kept) are
reported by the driver as the local runner does. Ray Data then splits the other jobs into
blocks, decodes them in parallel Ray tasks (:func:`tunecli.imageio.read_image`), restores them
in a pool of actors that each load the model and bake its alpha once (one GPU per actor where
the cluster has GPUs, CPU threads otherwise) and encodes them in Ray tasks with the atomic
writer. Each step is the local runner's own (:class:`tunecli.runner.BatchRun`), so names,
``--skip-existing``/``--overwrite``, failure lines, the summary and exit codes are the same.

Ray is the optional ``[ray]`` extra and is imported only once a run starts. Paths are handed
to the workers as they are: on a cluster inputs and outputs must lie on a filesystem every node
sees, or be URIs (``s3://…``, ``gs://…``: :class:`~tunecli.imageio.remote.RemotePath`), which
each worker reads and writes through its own pyarrow filesystem.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tunecli.errors import UsageError
from tunecli.runner import (
    BatchInterrupted,
    BatchReporter,
    BatchRun,
    BatchSummary,
    FileResult,
    Job,
    OutputOptions,
    Plan,
    SilentReporter,
    StartedJob,
    failure_text,
    held_back,
)

if TYPE_CHECKING:
    import numpy as np

    from tunecli.alpha import Omega
    from tunecli.api import Restorer, TileSpec

INSTALL_HINT = "--engine ray needs Ray: pip install 'tunecli[ray]'"

#: At most this many Ray Data blocks: one job per block streams best, but a huge archive is
#: split into fewer, larger blocks so the driver's bookkeeping stays small.
_MAX_BLOCKS = 10_000


def require_ray() -> None:
    """Raise :class:`~tunecli.errors.UsageError` (exit 2) saying what to install when Ray Data
    cannot be imported."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


@dataclass(frozen=True)
class RayOptions:
    """Where to run: ``address`` of a running cluster (None: a local Ray sized to this machine,
    shut down at the end) and ``workers``, the size of the actor pool (None: one per GPU, or one
    per node without GPUs)."""

    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError("--workers must be a positive number of actors")


@dataclass(frozen=True)
class _RunSpec:
    """What every worker needs to run its step as the local runner would (pickled to it)."""

    model_path: Path
    load_options: dict[str, Any]
    plan: Plan
    omega: Omega | str
    options: OutputOptions
    tile: TileSpec
    overlap: int | None
    max_pixels: int
    alpha_map: np.ndarray | None
    alpha_map_mode: str
    #: torch threads per actor; :func:`_stream` sets it from the cluster's CPUs
    threads: int = 1

    @property
    def fixed_omega(self) -> Omega | None:
        """The ω every image runs at; None with ``--alpha auto`` (chosen per image)."""
        return self.omega if isinstance(self.omega, tuple) else None

    def batch_run(self, restorer: Restorer | None, plan: Plan) -> BatchRun:
        """A local runner over ``plan`` whose steps a worker calls one job at a time; its
        summary collects what they report (the writer needs no restorer)."""
        return BatchRun(
            cast("Restorer", restorer),
            plan,
            self.omega,
            options=self.options,
            tile=self.tile,
            overlap=self.overlap,
            max_pixels=self.max_pixels,
            reporter=SilentReporter(),
            alpha_map=self.alpha_map,
            alpha_map_mode=self.alpha_map_mode,
        )


def _dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _dumps_error(error: BaseException) -> bytes:
    """``error`` pickled, or its one-line message as a ``RuntimeError`` when it cannot be."""
    try:
        return _dumps(error)
    except Exception:
        return _dumps(RuntimeError(failure_text(error)))


def _result_row(index: int, result: FileResult) -> dict[str, Any]:
    """A row that carries a finished job's result (its exception in words if it cannot travel)."""
    try:
        payload = _dumps(result)
    except Exception:
        result.exception = RuntimeError(result.error or "failed")
        payload = _dumps(result)
    return {"index": index, "job": b"", "data": b"", "error": b"", "result": payload, "elapsed": 0.0}


def _decode(row: dict[str, Any], spec: _RunSpec) -> dict[str, Any]:
    """Ray task: decode the input of one job (its error is carried on to the restoring actor,
    which reports it as the local runner does)."""
    began = time.perf_counter()
    job: Job = pickle.loads(row["job"])
    data, error = b"", b""
    try:
        from tunecli.imageio import read_image

        data = _dumps(read_image(job.source, max_pixels=spec.max_pixels))
    except Exception as err:
        error = _dumps_error(err)
    return {**row, "data": data, "error": error, "elapsed": time.perf_counter() - began}


class _Restore:
    """Ray actor: loads the model once, bakes the run's alpha once, restores decoded images."""

    def __init__(self, spec: _RunSpec) -> None:
        import torch

        from tunecli.api import load

        torch.set_num_threads(spec.threads)
        restorer = load(spec.model_path, **spec.load_options)
        self.run = spec.batch_run(restorer, spec.plan)
        if self.run.fixed is not None and spec.alpha_map is None:
            restorer.baked(self.run.fixed)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["result"]:
            return row
        began = time.perf_counter()
        job: Job = pickle.loads(row["job"])
        decoded: Future[Any] = Future()
        try:
            if row["error"]:
                raise pickle.loads(row["error"])
            image = pickle.loads(row["data"])
            decoded.set_result((image, self.run.choose_alpha(job, image)))
        except Exception as err:
            decoded.set_exception(err)
        computed = self.run._compute(job, decoded, began - row["elapsed"])
        if computed is None:  # reported: failed, or its alpha-named output is held back
            return _result_row(row["index"], self.run.summary.results.pop())
        named, restored = computed
        elapsed = row["elapsed"] + time.perf_counter() - began
        return {**row, "job": _dumps(named), "data": _dumps(restored), "error": b"", "elapsed": elapsed}


def _encode(row: dict[str, Any], spec: _RunSpec) -> dict[str, Any]:
    """Ray task: write one restored image atomically and make its result (the local runner's)."""
    if row["result"]:
        return row
    began = time.perf_counter() - row["elapsed"]
    job: Job = pickle.loads(row["job"])
    restored = pickle.loads(row["data"])
    run = spec.batch_run(None, Plan([]))
    written: Future[list[str]] = Future()
    try:
        written.set_result(run._write(job, restored.image))
    except Exception as err:
        written.set_exception(err)
    run.collect(StartedJob(job, began, restored, written))
    return _result_row(row["index"], run.summary.results.pop())


@dataclass
class _Cluster:
    """The Ray instance of a run: joined at ``address``, or started here (and shut down after)."""

    address: str | None
    owned: bool = field(init=False, default=False)

    def __enter__(self) -> _Cluster:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR}
            if self.address is None:
                kwargs["num_cpus"] = os.cpu_count() or 1
            else:
                kwargs["address"] = self.address
            try:
                ray.init(**kwargs, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = self.address or "a local instance"
                raise UsageError(f"--engine ray: cannot start or reach Ray at {where} ({failure_text(err)})") from None
            self.owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            import ray

            ray.shutdown()


def _pool(workers: int | None) -> tuple[int, float, int]:
    """The actor pool: (actors, GPUs per actor, torch threads per actor)."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    nodes = max(1, sum(1 for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU")))
    if gpus:
        return workers or gpus, 1.0, max(1, cpus // max(1, workers or gpus))
    actors = workers or nodes
    # each actor's torch threads share its node with the decode and encode tasks
    return actors, 0.0, max(1, cpus // actors)


def run_batch_ray(
    model_path: Path,
    load_options: dict[str, Any],
    plan: Plan,
    omega: Omega | str,
    *,
    options: OutputOptions,
    engine: RayOptions,
    tile: TileSpec = "auto",
    overlap: int | None = None,
    max_pixels: int,
    reporter: BatchReporter | None = None,
    alpha_map: np.ndarray | None = None,
    alpha_map_mode: str = "exact",
) -> BatchSummary:
    """:func:`tunecli.runner.run_batch` on Ray: the same arguments (the model as its checkpoint
    and :func:`tunecli.api.load`'s options, which every actor loads), the same summary.

    Results reach ``reporter`` as files finish (``file_started`` is not sent: files start on
    the workers); the summary lists them in plan order. On ``KeyboardInterrupt`` the dataset is
    stopped — every output is moved into place whole or not at all — and
    :class:`~tunecli.runner.BatchInterrupted` is raised with what was finished.
    """
    require_ray()
    reporter = reporter or SilentReporter()
    started_at = time.perf_counter()
    summary = BatchSummary(ignored=plan.ignored)
    order = {job: index for index, job in enumerate(plan.jobs)}
    ranked: list[tuple[int, FileResult]] = []

    def finish(index: int, result: FileResult) -> None:
        ranked.append((index, result))
        reporter.file_finished(result)

    reporter.batch_started(len(plan.jobs))
    runnable: list[Job] = []
    for job in plan.jobs:
        held = held_back(job, options) if job.suffix_template is None else None
        if held is not None:
            finish(order[job], held)
        else:
            runnable.append(job)

    interrupted = False
    try:
        if runnable:
            spec = _RunSpec(
                model_path, load_options, plan, omega, options, tile, overlap, max_pixels, alpha_map, alpha_map_mode
            )
            with _Cluster(engine.address):
                for index, result in _stream(runnable, order, spec, engine):
                    finish(index, result)
    except KeyboardInterrupt:
        interrupted = True
    ranked.sort(key=lambda item: item[0])
    summary.results = [result for _, result in ranked]
    summary.seconds = time.perf_counter() - started_at
    if interrupted:
        summary.interrupted = True
        summary.not_started = len(plan.jobs) - len(summary.results)
        raise BatchInterrupted(summary)
    return summary


def _stream(
    runnable: list[Job], order: dict[Job, int], spec: _RunSpec, engine: RayOptions
) -> Iterator[tuple[int, FileResult]]:
    """The results of ``runnable`` as the Ray Data pipeline finishes them: (plan index, result);
    ``spec``'s thread count is set here, from the cluster's resources."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    actors, gpus, threads = _pool(engine.workers)
    spec = replace(spec, threads=threads)
    # the whole plan travels to the actors only when --alpha auto names outputs there: it holds the
    # inputs an alpha-named output must not replace
    actor_spec = spec if spec.fixed_omega is None else replace(spec, plan=Plan([]))
    rows = [
        {"index": order[job], "job": _dumps(job), "data": b"", "error": b"", "result": b"", "elapsed": 0.0}
        for job in runnable
    ]
    dataset = (
        ray.data.from_items(rows, override_num_blocks=min(len(rows), _MAX_BLOCKS))
        # half a CPU each: decoding and encoding wait on files too; and unlike the actors' own
        # resources, this keeps Ray Data from fusing the decode into the actor, where it would
        # not overlap the compute
        .map(_decode, fn_kwargs={"spec": spec}, num_cpus=0.5)
        .map(_Restore, fn_constructor_kwargs={"spec": actor_spec}, concurrency=actors, num_gpus=gpus, num_cpus=1)
        .map(_encode, fn_kwargs={"spec": spec}, num_cpus=0.5)
    )
    batches = dataset.iter_rows()
    try:
        for row in batches:
            yield row["index"], pickle.loads(row["result"])
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
