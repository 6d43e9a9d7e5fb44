"""The current alpha as ``--alpha`` text and the command line that Save is equivalent to.

Pure Python (no torch): the CLI and the page's server share these. The page builds the same
text in JavaScript (``static/tune.js``, ``alphaText``) so it can show it while the slider moves;
the browser test checks that both agree.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from tunecli.alpha import AlphaSpace, Omega


def number_text(value: float) -> str:
    """A value of ω as the user would type it: ``0.37``, ``0``, ``1``, ``0.333333`` (6 decimals at most)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def alpha_text(space: AlphaSpace, omega: Omega) -> str:
    """``omega`` in ``--alpha`` syntax, as short as the syntax allows and parsed back to ``omega``
    (to 6 decimals) by :meth:`AlphaSpace.parse`: the scalar of a p = 2 simplex (``0.37``); a box
    as ``name=value`` for every axis (``noise=0.2,blur=0.5``); another simplex as its non-zero
    weights by name (``starry=0.5,wave=0.5``: unnamed axes are 0)."""
    if space.scalar:
        return number_text(space.scalar_of(omega))
    pairs = zip(space.names, omega, strict=True)
    if space.domain == "box":
        return ",".join(f"{name}={number_text(value)}" for name, value in pairs)
    return ",".join(f"{name}={number_text(value)}" for name, value in pairs if number_text(value) != "0")


@dataclass(frozen=True)
class CommandLine:
    """What ``tunecli tune`` was started with that a task command takes too.

    ``model``: ``--model`` as given (None: the task's default model); ``scale``: ``--scale`` as
    given; ``output``: the ``-o`` folder (None: next to the input); ``device``: ``--device``;
    ``precision``: the ``--precision`` the page computes at (``auto``: the file commands' own).
    """

    task: str
    image: Path
    model: str | None = None
    scale: int | None = None
    output: Path | None = None
    overwrite: bool = False
    device: str = "auto"
    precision: str = "auto"

    def at(self, alpha: str) -> str:
        """The task command writing what Save writes at ``alpha`` (``--alpha`` text):
        ``tunecli denoise --alpha 0.37 photo.jpg``; arguments are quoted for a POSIX shell."""
        words = ["tunecli", self.task, "--alpha", alpha]
        if self.model is not None:
            words += ["--model", self.model]
        if self.scale is not None:
            words += ["--scale", str(self.scale)]
        if self.device != "auto":
            words += ["--device", self.device]
        if self.precision != "auto":
            words += ["--precision", self.precision]
        if self.output is not None:
            words += ["-o", str(self.output)]
        if self.overwrite:
            words.append("--overwrite")
        words.append(str(self.image))
        return shlex.join(words)
