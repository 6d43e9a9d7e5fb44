"""What pyproject.toml declares holds: the Python floor the code runs on, and only dependencies the
package uses."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

# tomllib is Python 3.11+; on 3.10 the test run itself proves the floor, so these checks may skip.
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs tomllib (Python 3.11+)")

ROOT = Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("tunecli", "bench", "tests")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def python_floor() -> tuple[int, int]:
    """``requires-python = ">=3.X"`` → ``(3, X)``; any other form would need this test to learn it."""
    declared = pyproject()["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)", declared.strip())
    assert match, f"requires-python {declared!r} is not of the form '>=3.X'"
    return 3, int(match.group(1))


def distribution_key(name: str) -> str:
    """A distribution name compared as PyPI does (PEP 503): ``Pillow`` → ``pillow``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_ruff_targets_the_declared_floor() -> None:
    major, minor = python_floor()
    assert pyproject()["tool"]["ruff"]["target-version"] == f"py{major}{minor}"


def test_every_module_runs_on_the_declared_floor() -> None:
    """vermin reads every module for syntax and standard-library names newer than the floor
    (e.g. ``typing.Self`` needs 3.11), so CI on a newer Python still proves the floor."""
    major, minor = python_floor()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vermin; sys.argv[0] = 'vermin'; sys.exit(vermin.main())",
            f"--target={major}.{minor}-",
            "--violations",
            "--eval-annotations",
            "--no-tips",
            "--no-parse-comments",
            *CODE_FOLDERS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def imported_top_level_modules(folder: Path) -> set[str]:
    """The top-level names of every module that ``folder``'s code imports (absolute imports)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    """A dependency nothing in tunecli/ imports is dead weight for every user (bench/ scripts list
    theirs in bench/requirements.txt). Import names come from the installed distributions."""
    declared = {
        distribution_key(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
        for requirement in pyproject()["project"]["dependencies"]
    }
    providers = packages_distributions()
    used = {
        distribution_key(distribution)
        for module in imported_top_level_modules(ROOT / "tunecli")
        for distribution in providers.get(module, ())
    }
    assert sorted(declared - used) == []
