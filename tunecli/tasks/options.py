"""The options a task declares for ``tunecli train TASK`` and ``tunecli eval``.

A task lists its own options (:attr:`tunecli.tasks.Task.train_options`,
:attr:`~tunecli.tasks.Task.eval_options`) as :class:`TaskOption` declarations: name, type,
default and help. The trainer and ``tunecli eval`` keep only generic settings and hand the task
a plain ``{name: value}`` dict resolved against the declaration (:func:`resolve_options`); the
CLI builds each command's flags and their help from the same declarations, so adding a task
option touches the task's module only.

No torch here: ``tunecli --help`` reads these declarations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunecli.errors import UsageError

#: the value types an option may hold (a path is a ``str`` with a PATH/FILE metavar)
OPTION_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class TaskOption:
    """One option of a task's command.

    ``name``: the key in the options dict (a Python identifier); ``type``: ``bool``, ``int``,
    ``float`` or ``str``; ``default``: the value when not given (None: the option is unset);
    ``help``: one line for ``--help``; ``flag``: the command-line flag (default ``--name`` with
    ``_`` as ``-``); ``many``: the option holds a list, given as a repeated flag
    (``separator`` None: ``--style A --style B``) or as one ``separator``-separated value
    (``--sigma 15,25,50``); ``choices``: the allowed values (of each item, with ``many``);
    ``minimum`` / ``maximum``: the range of a number.
    """

    name: str
    type: type
    default: Any
    help: str
    flag: str = ""
    metavar: str | None = None
    many: bool = False
    separator: str | None = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not an identifier")
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name!r}: type {self.type!r} is not one of bool, int, float, str")
        if self.separator is not None and not self.many:
            raise ValueError(f"option {self.name!r}: a separator needs many=True")

    @property
    def option_flag(self) -> str:
        """The flag on the command line, e.g. ``--feature-weight``."""
        return self.flag or "--" + self.name.replace("_", "-")

    def convert(self, value: Any) -> Any:
        """``value`` (text from the command line, or a Python value) as this option's type;
        a list for ``many`` (text split at ``separator``). Raises a one-line
        :class:`~tunecli.errors.UsageError` naming the flag."""
        if value is None:
            return None
        if self.many:
            if isinstance(value, str):
                parts = value.split(self.separator) if self.separator else [value]
                items = [part.strip() for part in parts if part.strip()]
                if not items:
                    raise UsageError(f"{self.option_flag} needs at least one value")
            elif isinstance(value, Iterable):
                items = list(value)
            else:
                items = [value]
            return [self._item(item) for item in items]
        return self._item(value)

    def _item(self, value: Any) -> Any:
        try:
            if self.type is bool and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                item: Any = lowered in ("true", "1", "yes")
            else:
                item = self.type(value)
        except (TypeError, ValueError):
            kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(self.type, "text")
            if self.separator is not None and self.type in (int, float):
                kind = f"{self.separator}-separated numbers".replace(",-", "comma-")
            raise UsageError(f"{self.option_flag} takes {kind}, not {value!r}") from None
        if self.choices and item not in self.choices:
            raise UsageError(f"{self.option_flag} takes {', '.join(map(str, self.choices))}, not {value!r}")
        if (self.minimum is not None and item < self.minimum) or (self.maximum is not None and item > self.maximum):
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            wanted = f"in [{low}, {high}]" if low and high else (f"of at least {low}" if low else f"of at most {high}")
            raise UsageError(f"{self.option_flag} {value}: use a value {wanted}")
        return item


def resolve_options(
    declared: Sequence[TaskOption],
    given: Mapping[str, Any] | None,
    command: str,
    flags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every declared option's value: ``given`` (by name, converted) else the default.

    A name ``given`` that ``declared`` does not hold is refused with a one-line
    :class:`~tunecli.errors.UsageError`: ``--flag is not an option of `tunecli COMMAND```,
    where ``command`` is e.g. ``train denoise`` and ``flags`` names the flag of another
    task's option (default: ``--name``).
    """
    by_name = {option.name: option for option in declared}
    values = {option.name: option.convert(option.default) for option in declared}
    for name, value in (given or {}).items():
        option = by_name.get(name)
        if option is None:
            flag = (flags or {}).get(name) or "--" + name.replace("_", "-")
            allowed = ", ".join(o.option_flag for o in declared) or "none"
            raise UsageError(f"{flag} is not an option of `tunecli {command}` (its own options: {allowed})")
        values[name] = option.convert(value)
    return values


def flag_names(declared: Iterable[TaskOption]) -> dict[str, TaskOption]:
    """``{flag: option}`` of the declarations (e.g. ``{"--style": …}``)."""
    return {option.option_flag: option for option in declared}
