"""The README's recipes do what they say on a fresh checkout: its install makes its test command
run, its quick start writes nothing that git would see as a new file, and its Python recipes run."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
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


#: The line to put right above a ```python block that only sketches (it is not run), e.g. a
#: task definition whose methods are ``...``.
SKETCH = "<!-- readme-test: sketch, not run -->"

#: What a block may use without making it: ``noisy`` (uint8 ``(H, W, 3)``), ``mask`` (float32
#: ``(H, W)`` in [0, 1]) and the files ``photo.png``, ``photo.jpg`` and ``scan.tif`` (the same
#: noisy picture) in the folder it runs in.
PRELUDE = """
import numpy as _np
from PIL import Image as _Image

_y, _x = _np.mgrid[0:96, 0:128] / 128.0
_clean = _np.stack([0.2 + 0.6 * _x, 0.3 + 0.4 * _y, 0.5 + 0.3 * _np.sin(6 * _x)], axis=2)
_noise = _np.random.default_rng(0).standard_normal(_clean.shape) * 20 / 255
noisy = _np.round(_np.clip(_clean + _noise, 0, 1) * 255).astype(_np.uint8)
mask = _np.tile(_np.linspace(0, 1, 128, dtype=_np.float32), (96, 1))
for _name in ("photo.png", "photo.jpg", "scan.tif"):
    _Image.fromarray(noisy).save(_name)
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of ``text`` that are not marked :data:`SKETCH`: (line, code)."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.M | re.S):
        before = text[: match.start()].rstrip("\n").rpartition("\n")[2].strip()
        if before != SKETCH:
            blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


@pytest.mark.slow
@pytest.mark.parametrize(
    ("line", "code"), python_blocks(README), ids=lambda v: f"line {v}" if isinstance(v, int) else ""
)
def test_python_blocks_run(line: int, code: str, tmp_path: Path) -> None:
    """Every Python recipe of the README runs as a reader would paste it (in a fresh interpreter,
    in an empty folder holding a generated photo), with the shipped models."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"README line {line}:\n{done.stderr[-3000:]}"


def test_python_blocks_are_found_and_a_sketch_can_opt_out() -> None:
    text = f"a\n```python\nprint(1)\n```\n{SKETCH}\n```python\nclass Sketch: ...\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "print(1)\n")]
