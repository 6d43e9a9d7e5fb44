"""Every example of every task command's ``--help`` runs: its alpha parses for the command's
default model, and the first example, run on a tiny image, writes the file it promises."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tunecli.cli import app
from tunecli.models import find_model
from tunecli.tasks import list_tasks

WIDE = {"COLUMNS": "200"}


def examples(task: str) -> list[str]:
    """The example command lines of ``tunecli TASK --help``."""
    text = CliRunner().invoke(app, [task, "--help"], env=WIDE).output
    return [line.strip() for line in text.splitlines() if line.strip().startswith(f"tunecli {task} ")]


@pytest.mark.parametrize("task", [t.name for t in list_tasks()])
def test_help_examples_parse_for_the_default_model(task: str) -> None:
    lines = examples(task)
    assert len(lines) >= 3, lines
    space = find_model(next(t for t in list_tasks() if t.name == task).default_model).alpha_space
    for line in lines:
        alpha = re.search(r"(?:--alpha|-a) (\S+)", line)
        assert alpha, line
        space.parse(alpha.group(1))  # raises a one-line AlphaError if the example is wrong


@pytest.mark.parametrize("task", [t.name for t in list_tasks()])
def test_the_first_example_writes_the_file_it_names(task: str, tmp_path: Path) -> None:
    first = examples(task)[0]
    alpha, promised = re.fullmatch(rf"tunecli {task} --alpha (\S+) photo\.png\s+→\s+(\S+)", first).groups()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    result = CliRunner().invoke(app, [task, "--alpha", alpha, str(tmp_path / "photo.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / promised).is_file(), sorted(p.name for p in tmp_path.iterdir())
