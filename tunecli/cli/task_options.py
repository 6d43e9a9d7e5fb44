"""Commands that take the options a task declares (``tunecli train TASK``, ``tunecli eval MODEL``).

A task declares its options once (:class:`tunecli.tasks.TaskOption`); this module turns the
declarations into Typer options, so the trainer and the evaluator never list a task's flags.
A command function takes its generic options and one ``task_options`` dict (the task options
given on the command line, by name, as text); :class:`TaskOptionsCommand` parses every
registered task's options and shows in ``--help`` only those of the task its first argument
names (all of them, grouped by task, without one). The values are converted and checked by the
task's own declaration (:func:`tunecli.tasks.resolve_options`), which also refuses, in one line,
an option of another task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from tunecli.cli.console import TunecliCommand
from tunecli.tasks import Task, TaskOption, list_tasks

#: the parameter of a command function that receives the task options
TASK_OPTIONS_PARAMETER = "task_options"


def _annotation(option: TaskOption, panel: str) -> Any:
    """The Typer annotation of ``option``: text (converted later by the declaration), a
    repeatable text option, or an on/off flag."""
    default = option.default
    if isinstance(default, list):
        default = option.separator.join(map(str, default)) if option.separator else ", ".join(map(str, default))
    suffix = f" (default: {default})" if default not in (None, "", []) else ""
    if option.type is bool and not option.many:
        flag = option.option_flag
        decl = typer.Option(f"{flag}/--no-{flag.removeprefix('--')}", help=option.help + suffix, rich_help_panel=panel)
        return Annotated[bool | None, decl]
    metavar = option.metavar or ("LIST" if option.separator else option.type.__name__.upper())
    decl = typer.Option(option.option_flag, help=option.help + suffix, metavar=metavar, rich_help_panel=panel)
    if option.many and option.separator is None:
        return Annotated[list[str] | None, decl]
    return Annotated[str | None, decl]


def union_of_options(tasks: Sequence[Task], kind: str) -> list[tuple[TaskOption, str]]:
    """Every task's ``kind`` (``train``/``eval``) options once by name, each with the panel that
    names the tasks declaring it (e.g. ``upscale, style options``)."""
    first: dict[str, TaskOption] = {}
    owners: dict[str, list[str]] = {}
    for task in tasks:
        for option in task.train_options if kind == "train" else task.eval_options:
            first.setdefault(option.name, option)
            owners.setdefault(option.name, []).append(task.name)
    return [(option, f"{', '.join(owners[name])} options") for name, option in first.items()]


class TaskOptionsFunction:
    """A command function with one Typer option per task option in place of its
    ``task_options`` parameter, which receives those given (by name, as text).

    ``tasks``: the tasks whose options it takes (None: every registered task, looked up each
    time the CLI is built, so a task registered later is there too)."""

    def __init__(self, function: Callable[..., None], kind: str, tasks: Sequence[Task] | None = None) -> None:
        self.function, self.kind, self.tasks = function, kind, tasks
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__
        self.__module__ = function.__module__

    def _options(self) -> list[tuple[TaskOption, str]]:
        return union_of_options(list_tasks() if self.tasks is None else self.tasks, self.kind)

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.function, eval_str=True)
        generic = [p for name, p in signature.parameters.items() if name != TASK_OPTIONS_PARAMETER]
        taken = {p.name for p in generic}
        added = []
        for option, panel in self._options():
            if option.name in taken:
                raise ValueError(f"task option {option.name!r} has the name of an option every task has")
            annotation = _annotation(option, panel)
            added.append(
                inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
            )
        return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in generic] + added)

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, **values: Any) -> None:
        given = {option.name: values.pop(option.name, None) for option, _ in self._options()}
        chosen = {name: value for name, value in given.items() if value not in (None, [], ())}
        self.function(**values, **{TASK_OPTIONS_PARAMETER: chosen})


class TaskOptionsCommand(TunecliCommand):
    """A command with every registered task's options (its callback a
    :class:`TaskOptionsFunction`); its help shows only the options of the task its first
    argument names (:meth:`task_of`), or all of them, grouped by task, without one."""

    def task_of(self, argument: str) -> Task | None:
        """The task the command's first argument names (None: not known)."""
        raise NotImplementedError

    def _first_argument(self, ctx: typer.Context, args: Sequence[str]) -> str | None:
        takes_value: set[str] = set()
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperOption) and not param.is_flag and not param.count:
                takes_value.update(param.opts)
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                return next(tokens, None)
            if token.startswith("-"):
                if "=" not in token and token in takes_value:
                    next(tokens, None)
                continue
            return token
        return None

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        argument = self._first_argument(ctx, args)
        ctx.meta["tunecli.task"] = self.task_of(argument) if argument else None
        return super().parse_args(ctx, args)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        task = ctx.meta.get("tunecli.task")
        callback = _task_options_function(self.callback)
        if task is None or callback is None:
            super().format_help(ctx, formatter)
            return
        own = TaskOptionsFunction(callback.function, callback.kind, [task])
        app = typer.Typer(add_completion=False, rich_markup_mode="rich", pretty_exceptions_enable=False)
        app.command(self.name, cls=TunecliCommand, help=self.help, epilog=self.epilog)(own)
        typer.main.get_command(app).format_help(ctx, formatter)


def _task_options_function(callback: Any) -> TaskOptionsFunction | None:
    """The :class:`TaskOptionsFunction` behind a Typer-made click callback (Typer's wrapper
    keeps it as ``__wrapped__``)."""
    inner = getattr(callback, "__wrapped__", None)
    return inner if isinstance(inner, TaskOptionsFunction) else None
