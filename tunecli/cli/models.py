"""``tunecli models [NAME]``: the installed models as a table, or one model's full card.

Everything comes from checkpoint headers (:mod:`tunecli.checkpoint`) and the task modules
(what a shipped file's alpha axes mean as now known, and its measured results), so no torch is
imported.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tunecli.alpha import AlphaSpace
from tunecli.cli import console
from tunecli.errors import TunecliError
from tunecli.models import ModelInfo, find_model, shipped_models, weights_dirs
from tunecli.tasks import MeasuredResults, Task, default_models, get_task

_CARD_FIRST = ("arch", "hparams", "task", "scale", "tiling")
_CARD_SKIP = {"alpha_space", "format_version", *_CARD_FIRST}


def human_count(n: int) -> str:
    """``1234567`` → ``1.23 M``, ``12345`` → ``12.3 k``."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} k"
    return str(n)


def human_bytes(n: int) -> str:
    """``2_500_000`` → ``2.4 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def describe_axes(space: AlphaSpace) -> str:
    """What alpha means, in one short phrase per axis."""
    if space.scalar:
        low = space.low or space.axes[0].meaning or space.axes[0].name
        high = space.high or space.axes[1].meaning or space.axes[1].name
        return f"0 = {low} … 1 = {high}"
    parts = [f"{a.name} ({a.meaning})" if a.meaning else a.name for a in space.axes]
    return f"{space.domain}: " + ", ".join(parts)


def _is_default(info: ModelInfo) -> bool:
    return default_models().get(info.task) == info.name


def _task(info: ModelInfo) -> Task | None:
    """The registered task of a checkpoint (None for a task no module registered)."""
    try:
        return get_task(info.task)
    except TunecliError:
        return None


def shown_space(info: ModelInfo) -> AlphaSpace:
    """The alpha space as the listing and the card show it: as the checkpoint recorded it, with
    the axis texts its task now knows better for that checkpoint
    (:meth:`~tunecli.tasks.Task.card_alpha_space`)."""
    task = _task(info)
    if task is None:
        return info.alpha_space
    return task.card_alpha_space(info.alpha_space, info.meta, lambda: info.sha256)


def measured_results(info: ModelInfo) -> MeasuredResults | None:
    """The headline numbers its task keeps for this checkpoint file, if any."""
    task = _task(info)
    return task.measured_results(lambda: info.sha256) if task is not None else None


def _table(models: list[ModelInfo]) -> tuple[Table, list[console.PlainEntry]]:
    """The listing as a rich table and as plain-text entries (one per model)."""
    table = Table(title="Installed models", title_justify="left")
    for column in ("name", "task", "alpha", "default alpha", "parameters", "size"):
        table.add_column(column, overflow="fold")
    entries: list[console.PlainEntry] = []
    for info in models:
        space = shown_space(info)
        name = Text(info.name)
        if _is_default(info):
            name.append(" (default)", style="dim")
        size = (human_count(info.parameters), human_bytes(info.file_size))
        table.add_row(name, info.task, describe_axes(space), space.describe(space.default), *size)
        heading = f"{name.plain} · {info.task} · {size[0]} parameters · {size[1]}"
        entries.append((heading, [("alpha", describe_axes(space)), ("default", space.describe(space.default))]))
    return table, entries


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows.extend(_flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return rows
    if isinstance(value, str):
        return [(prefix, value)]
    return [(prefix, json.dumps(value))]


#: The metadata field holding every command that trained a model, in order (``tunecli train``
#: appends one per resumed or warm-started run, so it grows long).
HISTORY_FIELD = "training.commands"


def _history_rows(value: Any, shown: bool) -> list[tuple[str, str]]:
    """``training.commands``: one row per command when ``shown``, else a one-row summary."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return _flatten(HISTORY_FIELD, value)
    if shown:
        return [(f"{HISTORY_FIELD}[{k}]", command) for k, command in enumerate(value, start=1)]
    return [(HISTORY_FIELD, f"{len(value)} commands, in order; the last is training.command (--history lists them)")]


def card_rows(info: ModelInfo, *, history: bool = False) -> list[tuple[str, str]]:
    """The model card as (field, value) rows: identity, alpha space (:func:`shown_space`), the
    measured results (``measured.*``, when the card records no metrics), then every metadata
    field; the training history (:data:`HISTORY_FIELD`) is folded into one row unless ``history``."""
    meta = info.meta
    space = shown_space(info)
    rows = [
        ("name", info.name + (" (default for " + info.task + ")" if _is_default(info) else "")),
        ("file", str(info.path)),
        ("size", human_bytes(info.file_size)),
        ("parameters", f"{info.parameters:,}"),
    ]
    for key in _CARD_FIRST:
        if key in meta:
            rows.extend(_flatten(key, meta[key]))
    rows.append(("alpha.domain", f"{space.domain}, p = {space.p}"))
    for axis in space.axes:
        rows.append((f"alpha.{axis.name}", axis.meaning or "-"))
    if space.low or space.high:
        rows.append(("alpha.0", space.low or "-"))
        rows.append(("alpha.1", space.high or "-"))
    rows.append(("alpha.default", space.describe(space.default)))
    rows.extend(_measured_rows(info))
    for key, value in meta.items():
        if key not in _CARD_SKIP:
            for field, text in _flatten(key, value):
                if field == HISTORY_FIELD:
                    rows.extend(_history_rows(meta["training"]["commands"], history))
                else:
                    rows.append((field, text))
    return rows


def _measured_rows(info: ModelInfo) -> list[tuple[str, str]]:
    """The card's measured results: its own ``metrics`` when it records any (shown with the
    other metadata), else the headline numbers its task keeps for this file, with the command
    that measured them."""
    if info.meta.get("metrics"):
        return []
    measured = measured_results(info)
    if measured is None:
        return []
    rows = [(f"measured.{what}", result) for what, result in measured.rows]
    rows += [("measured.command", command) for command in measured.commands]
    rows += [("measured.results", source) for source in measured.sources]
    return rows


def models_command(
    name: Annotated[str | None, typer.Argument(help="Show this model's full card.", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON on stdout.")] = False,
    history: Annotated[
        bool, typer.Option("--history", help="List every command that trained the model (folded by default).")
    ] = False,
) -> None:
    """List the installed models, or show one model's card (metadata, training, metrics, licence)."""
    if name is not None:
        info = find_model(name)
        if json_output:
            console.emit_json({"name": info.name, "file": str(info.path), "size": info.file_size, **info.meta})
            return
        console.print_fields(f"Model {info.name}", card_rows(info, history=history))
        return
    models = shipped_models()
    if json_output:
        console.emit_json(
            [{"name": m.name, "task": m.task, "file": str(m.path), "default": _is_default(m), **m.meta} for m in models]
        )
        return
    if not models:
        folders = ", ".join(str(d) for d in weights_dirs()) or "no weights folder found"
        console.info(f"no models installed (searched: {folders}); set TUNECLI_WEIGHTS to a folder of .safetensors")
        return
    console.print_table(*_table(models))
