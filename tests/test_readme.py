"""The README's recipes do what they say on a fresh checkout: its install makes its test command
run, and its quick start writes nothing that git would see as a new file."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from tunecli.cli import app
from tunecli.runner import OutputOptions, plan_jobs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the README section ``## title`` (up to the next ``## `` heading)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, flags=re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def commands(text: str) -> list[str]:
    """The shell commands of the ```bash blocks in ``text``: comments dropped, ``&&`` split."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            code = line.split(" #", 1)[0].strip()
            if code and not code.startswith("#"):
                lines.extend(part.strip() for part in code.split("&&"))
    return lines


def test_install_section_installs_what_the_test_command_needs() -> None:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs tomllib (Python 3.11+)")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    installs = [c for c in commands(section("Install")) if c.startswith("pip install -e ")]
    assert installs, "the Install section does not install the project"
    (target,) = shlex.split(installs[0])[3:]
    match = re.fullmatch(r"\.\[(.+)\]", target)
    assert match, f"{target!r} installs no extra, so `python -m pytest -q` finds no pytest"
    wanted = {name.strip() for name in match.group(1).split(",")}
    requirements = [req for name in wanted for req in extras[name]]
    assert any(re.match(r"pytest\b", req) for req in requirements)
    assert "python -m pytest -q" in commands(section("Tests"))
    # CI runs the same two steps on a fresh machine
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"python -m pip install -e {shlex.quote(target)}" in ci.replace('"', "'")
    assert "\npython -m pytest -q\n" in ci


def test_quick_start_output_stays_out_of_gits_way() -> None:
    """The quick start's denoise command, parsed by the CLI itself and planned by the runner,
    writes where git ignores it (a clone stays clean)."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    (line,) = [c for c in commands(section("Quick start")) if c.startswith("tunecli denoise ")]
    args = shlex.split(line)[2:]
    command = typer.main.get_command(app).commands["denoise"]  # type: ignore[attr-defined]
    params = command.make_context("denoise", args).params
    inputs = [ROOT / path for path in params["inputs"]]
    output = ROOT / params["output"] if params["output"] is not None else None
    (job,) = plan_jobs(inputs, task="denoise", label="a0.50", options=OutputOptions(output=output)).jobs
    ignored = subprocess.run([git, "check-ignore", "-q", "--no-index", str(job.target)], cwd=ROOT)
    assert ignored.returncode == 0, f"{job.target.relative_to(ROOT)} would show up in `git status`"
