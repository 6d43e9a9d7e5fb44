"""The console layer: everything tunecli shows a person goes through here.

stderr carries progress, notices and errors (rich); stdout is kept for machine-readable output
(``--json``). Errors of the :class:`~tunecli.errors.TunecliError` family become one line and the
error's exit code (SPEC §5); ``--debug`` adds the traceback; Ctrl-C exits 130.
"""

from __future__ import annotations

import json
import textwrap
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup, TyperOption

from tunecli.errors import INTERRUPTED, TunecliError

try:  # typer 0.2x parses with its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - a typer that parses with click itself
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]

if TYPE_CHECKING:
    from tunecli.runner import FileResult, Job
    from tunecli.training.loop import TrainStatus

_DEBUG_KEY = "tunecli.debug"

# Created once; rich looks up sys.stdout/sys.stderr on each write, so redirection works.
err_console = Console(stderr=True, highlight=False)
#: For a command's own result (tables); progress and diagnostics never go here.
out_console = Console(highlight=False)


def _line(prefix: str, style: str, message: str) -> None:
    text = Text(prefix, style=style)
    text.append(message)
    err_console.print(text, soft_wrap=True)


def error(message: str) -> None:
    """``error: message`` on stderr, never wrapped, never interpreted as markup."""
    _line("error: ", "bold red", message)


def warning(message: str) -> None:
    _line("warning: ", "yellow", message)


def notice(message: str) -> None:
    _line("note: ", "cyan", message)


def passed_over(ignored: int, links: Sequence[Path]) -> None:
    """Notes on what planning passed over: ``ignored`` non-image files, and the links to folders
    a recursive walk does not follow (one line each)."""
    if ignored:
        notice(f"passed over {ignored} file(s) that are not images")
    for link in links:
        notice(f"passed over {link}: a link to a folder (not followed; pass it as an input to include it)")


def info(message: str) -> None:
    err_console.print(Text(message), soft_wrap=True)


def show_traceback(exc: BaseException) -> None:
    err_console.print(Text("".join(traceback.format_exception(exc)).rstrip()), soft_wrap=True)


def emit_json(data: Any) -> None:
    """The one way tunecli writes to stdout: a JSON document."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


#: Width of plain-text output (a pipe, a file, or a terminal too narrow for a table).
PLAIN_WIDTH = 100

#: One entry of a table in plain text: its heading line and its ``(field, value)`` rows.
PlainEntry = tuple[str, Sequence[tuple[str, str]]]


def print_table(table: Table, entries: Sequence[PlainEntry]) -> None:
    """A command's table on stdout: the rich ``table`` on a terminal wide enough for it;
    elsewhere — a pipe, a file, or a terminal narrower than the table, where every cell would be
    folded into a tall column — the same information as plain text of at most
    :data:`PLAIN_WIDTH` columns (the terminal's width when narrower): the table's title, then
    each entry's heading line and its fields indented under it (see :func:`print_fields`).
    """
    natural = Measurement.get(out_console, out_console.options.update(max_width=100_000), table).maximum
    if out_console.is_terminal and natural <= out_console.width:
        out_console.print(table)
        return
    width = min(PLAIN_WIDTH, out_console.width) if out_console.is_terminal else PLAIN_WIDTH
    lines = [str(table.title)] if table.title else []
    for heading, rows in entries:
        lines.extend(textwrap.wrap(heading, width=width, subsequent_indent="    ", break_on_hyphens=False))
        lines.extend(_plain_fields(rows, width, indent="  "))
    out_console.print(Text("\n".join(lines)), soft_wrap=True)  # wrapped already; no markup


def _plain_fields(rows: Sequence[tuple[str, str]], width: int, indent: str = "") -> list[str]:
    """``field  value`` lines (after ``indent``), each value wrapped at ``width`` columns and
    continued under the value column; a field name longer than a third of the width puts its
    value on the next line."""
    key_width = min(max((len(field) for field, _ in rows), default=0), width // 3)
    value_indent = indent + " " * (key_width + 2)
    lines = []
    for field, value in rows:
        head = indent + field.ljust(key_width) + "  "
        if len(head) > len(value_indent):  # a longer field name: its value starts on the next line
            lines.append(indent + field)
            head = value_indent
        wrapped = textwrap.wrap(
            value, width=width, initial_indent=head, subsequent_indent=value_indent, break_on_hyphens=False
        )
        lines.extend(wrapped or [head.rstrip()])
    return lines


def print_fields(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """A command's ``field  value`` list on stdout (a model card).

    On a terminal: a rich table at the terminal's width, long values folded. Elsewhere: plain
    text (no padding, no box characters), one field per line with its value wrapped at
    :data:`PLAIN_WIDTH` columns and continued under the value column, so a pipe or a file gets
    short lines whatever the values hold.
    """
    if out_console.is_terminal:
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for field, value in rows:
            table.add_row(field, value)
        out_console.print(table)
        return
    typer.echo("\n".join([title, *_plain_fields(rows, PLAIN_WIDTH)]))


def set_debug(ctx: typer.Context, enabled: bool) -> None:
    """Ask for tracebacks with errors for the rest of this invocation (``--debug``)."""
    if enabled:
        ctx.meta[_DEBUG_KEY] = True


class _FlagsTakeNoValue:
    """Help without a type placeholder beside on/off flags.

    Typer's rich help shows ``<bool>`` for a flag such as ``--overwrite``, which reads as if it
    took a value (``--overwrite true``, then ``true: no such file or folder``). An empty metavar
    makes the help show nothing there; flags never print a metavar anywhere else.
    """

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


class TunecliCommand(_FlagsTakeNoValue, TyperCommand):
    """Every tunecli command (pass as ``cls=`` when registering one): flags show no placeholder."""


def parse_error(err: ClickException, command: str, debug: bool = False) -> NoReturn:
    """A command-line parse error of Typer/click (unknown option, bad or missing value, missing
    argument, unknown command) as one line naming the problem and the help to read, instead of
    Typer's usage lines and boxed message; raises :class:`typer.Exit` with its exit code (2)."""
    message = " ".join(err.format_message().split()).rstrip(".")
    context = getattr(err, "ctx", None)
    error(f"{message}; see {context.command_path if context is not None else command} --help")
    if debug:
        show_traceback(err)
    raise typer.Exit(err.exit_code) from None


class TunecliGroup(_FlagsTakeNoValue, TyperGroup):
    """The root command group: maps tunecli errors and command-line parse errors to one line
    and their exit code, and Ctrl-C to exit 130, for every command (including ones registered by
    other modules)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: typer.Context | None = None, **extra: Any
    ) -> typer.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:  # the help was printed; Typer exits 2
            raise
        except ClickException as err:  # the root's own options (tunecli --frobnicate)
            parse_error(err, info_name or self.name or "tunecli")

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except ClickException as err:  # a command's options and arguments, or no such command
            command = f"{ctx.command_path} {ctx.invoked_subcommand or ''}".strip()
            parse_error(err, command, bool(ctx.meta.get(_DEBUG_KEY)))
        except TunecliError as err:
            error(str(err))
            if ctx.meta.get(_DEBUG_KEY):
                show_traceback(err)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(INTERRUPTED) from None


# ``typing.Self`` is Python 3.11+; tunecli supports 3.10, so ``__enter__`` is typed with a TypeVar.
_Bar = TypeVar("_Bar", bound="_StderrBar")


class _StderrBar:
    """A transient rich progress display on stderr, drawn only on a terminal (a context manager)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None

    def _wanted(self) -> bool:
        return err_console.is_terminal

    def _columns(self) -> tuple[ProgressColumn, ...]:
        raise NotImplementedError

    def __enter__(self: _Bar) -> _Bar:
        if self._wanted():
            self._progress = Progress(*self._columns(), console=err_console, transient=True)
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class BatchProgress(_StderrBar):
    """A :class:`tunecli.runner.BatchReporter` drawing rich progress bars on stderr.

    Bars are drawn only on a terminal (per file, and per tile when an image has several);
    elsewhere, and in addition, each file gets one line. ``quiet`` keeps only failures.
    """

    def __init__(self, *, quiet: bool = False, debug: bool = False) -> None:
        super().__init__()
        self.quiet = quiet
        self.debug = debug
        self._files: TaskID | None = None
        self._tiles: TaskID | None = None

    def _wanted(self) -> bool:
        return not self.quiet and err_console.is_terminal

    def _columns(self) -> tuple[ProgressColumn, ...]:
        return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

    def batch_started(self, total: int) -> None:
        if self._progress is not None:
            self._files = self._progress.add_task("files", total=total)
            self._tiles = self._progress.add_task("tiles", total=1, visible=False)

    def file_started(self, job: Job) -> None:
        if self._progress is not None and self._tiles is not None:
            self._progress.update(self._tiles, description=job.source.name, completed=0, total=1, visible=False)

    def tile_progress(self, done: int, total: int) -> None:
        if self._progress is not None and self._tiles is not None:
            self._progress.update(self._tiles, completed=done, total=total, visible=total > 1)

    def file_finished(self, result: FileResult) -> None:
        if self._progress is not None and self._files is not None:
            self._progress.advance(self._files)
        job = result.job
        if result.status == "failed":
            _line("failed: ", "bold red", f"{job.source}: {result.reason}")
            if self.debug and result.exception is not None:
                show_traceback(result.exception)
            return
        if self.quiet:
            return
        # --alpha auto: the note of the estimate (the first notice) says why the output has its name
        leading = 1 if result.alpha_auto is not None else 0
        for line in result.notices[:leading]:
            notice(f"{job.source.name}: {line}")
        if result.status == "skipped":
            _line("skipped: ", "yellow", f"{job.target} exists")
        else:
            _line("wrote: ", "green", f"{job.target} ({result.seconds:.2f} s)")
        for line in result.notices[leading:]:
            notice(f"{job.source.name}: {line}")


def train_status_text(status: TrainStatus) -> str:
    """The bar's status field: loss (4 significant digits, so an L2 loss of 1e-3 still shows its
    trend), learning rate and the latest validation PSNR per σ."""
    text = f"loss {status.loss:.4g} · lr {status.lr:.1e}"
    if status.validation:
        text += " · val " + "/".join(f"{v:.2f}" for v in status.validation.values()) + " dB"
    return text


class TrainProgress(_StderrBar):
    """Training display on stderr: time-stamped log lines always (they suit ``nohup … > log``),
    plus, on a terminal, a live bar with steps, elapsed/remaining time, loss and validation PSNR."""

    def __init__(self) -> None:
        super().__init__()
        self._task: TaskID | None = None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        return (
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
        )

    def log(self, line: str) -> None:
        """One time-stamped line (printed above the bar when there is one)."""
        err_console.print(Text.assemble((time.strftime("%H:%M:%S "), "dim"), line), soft_wrap=True)

    def update(self, status: TrainStatus) -> None:
        if self._progress is None:
            return
        text = train_status_text(status)
        if self._task is None:
            self._task = self._progress.add_task("train", total=status.total, completed=status.step, status=text)
        self._progress.update(self._task, completed=status.step, status=text)
