"""``tunecli tune``'s command line: light --help, and every mistake refused in one line (exit 2)
before a server starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tunecli.cli import app

HELP_IS_LIGHT = """
import sys
from typer.testing import CliRunner
from tunecli.cli import app
for args in (["--help"], ["tune", "--help"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "starlette", "uvicorn", "anyio"))
assert not heavy, heavy
print("ok")
"""


def tune(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["tune", *(str(a) for a in args)])


def test_help_imports_neither_torch_nor_the_server() -> None:
    done = subprocess.run([sys.executable, "-c", HELP_IS_LIGHT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    listing = CliRunner().invoke(app, ["--help"]).stdout
    assert "tune" in listing and "Tune a photo live" in listing
    assert "--no-browser" in CliRunner().invoke(app, ["tune", "--help"]).stdout


def test_without_the_ui_extra_it_says_what_to_install(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunecli.cli.tune as tune_module

    real = tune_module.importlib.util.find_spec
    monkeypatch.setattr(tune_module.importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    result = tune(photo)
    assert result.exit_code == 2
    assert (
        result.stderr == "error: tunecli tune needs the ui extra (uvicorn not installed): pip install 'tunecli[ui]'\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{photo}", "-o", "{tmp}/out.png"], "-o {tmp}/out.png: tune writes one file per saved alpha; pass a folder"),
        (["{tmp}/missing.png"], "{tmp}/missing.png: no such file"),
        (["{photo}", "--port", "70000"], "--port must be between 0 and 65535, not 70000"),
    ],
)
def test_mistakes_are_one_line_usage_errors(
    photo: Path, tmp_path: Path, make_checkpoint: Callable[[str], Path], args: list[str], message: str
) -> None:
    model = make_checkpoint("denoise")
    filled = [a.format(photo=photo, tmp=tmp_path) for a in args]
    result = tune(*filled, "--model", model, "--no-browser")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {message.format(tmp=tmp_path)}\n"
    assert not (tmp_path / "out.png").exists()


def test_a_bad_alpha_or_a_model_of_another_task_is_refused(photo: Path, make_checkpoint: Callable[[str], Path]) -> None:
    model = make_checkpoint("denoise")
    unknown = tune(photo, "--task", "nosuchtask", "--no-browser")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: unknown task 'nosuchtask': use one of denoise, deblur, upscale, style")
    result = tune(photo, "--model", model, "--alpha", "1.5", "--no-browser")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: alpha 1.5 is outside [0, 1]: use a number in [0, 1]")
    other = tune(photo, "--model", model, "--task", "upscale", "--no-browser")
    assert other.exit_code == 2
    assert other.stderr == f"error: model '{model.stem}' is a denoise model; use `tunecli denoise` or another --model\n"


def test_a_port_in_use_is_refused(photo: Path, make_checkpoint: Callable[[str], Path]) -> None:
    pytest.importorskip("uvicorn", reason="the [ui] extra is not installed")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = tune(photo, "--model", make_checkpoint("denoise"), "--port", str(port), "--no-browser")
    finally:
        taken.close()
    assert result.exit_code == 2
    assert result.stderr.endswith(f"error: port {port} is in use; pass another --port (or 0 for any free port)\n")


def test_help_examples_parse() -> None:
    import typer

    text = CliRunner().invoke(app, ["tune", "--help"], env={"COLUMNS": "200"}).output
    lines = [line.strip().split("  ")[0] for line in text.splitlines() if line.strip().startswith("tunecli tune ")]
    assert len(lines) == 3, lines
    command = typer.main.get_command(app).commands["tune"]  # type: ignore[attr-defined]
    for line in lines:
        params = command.make_context("tune", line.split()[2:]).params
        assert params["image"].suffix in (".jpg", ".png"), line
