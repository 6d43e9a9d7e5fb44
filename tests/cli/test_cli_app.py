"""The application shell: fast --help without torch, --version, and the models command."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BOX, SCALAR, ModelFactory
from rich.console import Console
from typer.testing import Result

from tunecli import __version__
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.models import model_metadata
from tunecli.tasks import default_models

RunCli = Callable[..., Result]

_HELP_WITHOUT_TORCH = """
import sys
from typer.testing import CliRunner
from tunecli.cli import app
runner = CliRunner()
for args in (["--help"], ["denoise", "--help"], ["upscale", "--help"], ["models", "--help"], ["--version"]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
print("ok")
"""

DENOISER = default_models()["denoise"]  # the fixture weights stand in for the shipped default


def test_help_does_not_import_torch() -> None:
    done = subprocess.run([sys.executable, "-c", _HELP_WITHOUT_TORCH], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_help_is_fast() -> None:
    """Well under a second in practice; the bound leaves room for a loaded CI machine."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tunecli", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert time.perf_counter() - began < 3.0
    for command in ("denoise", "deblur", "upscale", "style", "models"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("args", "problem", "command"),
    [
        (["denoise", "--frobnicate", "in.png"], "No such option: --frobnicate", "tunecli denoise"),
        (["denoise", "--max-pixels", "many", "in.png"], "Invalid value for '--max-pixels'", "tunecli denoise"),
        (["denoise", "--quality", "0", "in.png"], "Invalid value for '--quality'", "tunecli denoise"),
        (["denoise", "--overlap", "-3", "in.png"], "Invalid value for '--overlap'", "tunecli denoise"),
        (["denoise", "in.png", "--quality"], "Option '--quality' requires an argument", "tunecli denoise"),
        (["denoise"], "Missing argument 'INPUT'", "tunecli denoise"),
        (["--frobnicate"], "No such option: --frobnicate", "tunecli"),
        (["frobnicate"], "No such command 'frobnicate'", "tunecli"),
    ],
)
def test_parse_errors_are_one_line_naming_the_problem_and_the_help(
    run_cli: RunCli, args: list[str], problem: str, command: str
) -> None:
    """Typer's own errors (usage lines and a boxed message) read like every other error."""
    result = run_cli(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.rstrip("\n")
    assert line.startswith(f"error: {problem}") and line.endswith(f"; see {command} --help")
    assert "│" not in line and "Usage:" not in line
    assert result.stdout == ""


def test_version(run_cli: RunCli) -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"tunecli {__version__}\n"


def test_task_help_has_panels_and_examples(run_cli: RunCli) -> None:
    result = run_cli("denoise", "--help")
    assert result.exit_code == 0
    for text in ("Tuning", "Model", "Output", "Performance", "Reporting", "Examples", "--skip-existing", "130"):
        assert text in result.stdout
    assert "photo_denoise_a0.30.png" in result.stdout


def every_command_line() -> list[list[str]]:
    """``[]`` (the root) and every command's name, as registered on the app."""
    import typer

    from tunecli.cli import app

    return [[], *([name] for name in typer.main.get_command(app).commands)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", every_command_line(), ids=lambda c: " ".join(c) or "tunecli")
def test_flags_show_no_value_placeholder(run_cli: RunCli, command: list[str]) -> None:
    """An on/off flag takes no value: ``<bool>`` beside it invited ``--overwrite true``."""
    result = run_cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_options_with_values_keep_their_placeholder(run_cli: RunCli) -> None:
    out = run_cli("denoise", "--help").stdout
    assert "--overwrite" in out and "--recursive" in out
    assert "<path>" in out and "<auto|8|16|32f>" in out


@pytest.fixture()
def weights(tmp_path: Path, make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    make_model("denoise", name=DENOISER, folder=folder)
    make_model("deblur", name="deblur-box", space=BOX, folder=folder)
    monkeypatch.setenv("TUNECLI_WEIGHTS", str(folder))
    monkeypatch.setattr("tunecli.models.weights_dirs", lambda: [folder])  # only these two, whatever weights/ holds
    return folder


def test_models_table(run_cli: RunCli, weights: Path) -> None:
    result = run_cli("models")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{DENOISER} (default)" in out
    assert "0 = gentle … 1 = strong" in out
    assert "box: noise (noise removal), blur (sharpening)" in out
    assert "alpha=0.50" in out and "noise=0.50 blur=0.50" in out
    assert "748" in out  # parameters of tiny(width=4, p=2)
    assert "KiB" in out


def test_models_table_in_a_pipe_is_plain_text_of_short_lines(run_cli: RunCli, weights: Path) -> None:
    """A pipe got the table at its natural width (274 columns for the shipped models): now
    plain text, a heading line per model and its alpha indented under it, at most 100 columns."""
    lines = run_cli("models").stdout.splitlines()
    assert lines[0] == "Installed models"
    assert max(len(line) for line in lines) <= 100
    assert not any(char in line for line in lines for char in "│┃━─")
    assert lines[1].startswith("deblur-box · deblur · ") and lines[1].endswith("KiB")
    assert lines[2].split(maxsplit=1) == ["alpha", "box: noise (noise removal), blur (sharpening)"]
    assert lines[3].split(maxsplit=1) == ["default", "noise=0.50 blur=0.50"]
    assert lines[4].startswith(f"{DENOISER} (default) · denoise · 748 parameters · ")


@pytest.mark.parametrize(("width", "table"), [(60, False), (200, True)])
def test_models_table_on_a_terminal_is_a_table_only_where_it_fits(
    run_cli: RunCli, weights: Path, monkeypatch: pytest.MonkeyPatch, width: int, table: bool
) -> None:
    """At 100 columns the shipped models' table was 54 lines of folded cells: a terminal too
    narrow for the table gets the plain text, wrapped at its width."""
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=width, color_system=None, highlight=False)
    monkeypatch.setattr("tunecli.cli.console.out_console", terminal)
    assert run_cli("models").exit_code == 0
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    assert ("┃" in buffer.getvalue()) is table
    assert any(line.startswith("deblur-box · deblur · ") for line in lines) is not table


def test_models_card(run_cli: RunCli, weights: Path) -> None:
    result = run_cli("models", DENOISER)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "(default for denoise)",
        "tunecli train denoise --steps 3",
        "CC0-1.0",
        "30.5",
        "tiling.receptive_radius",
        "assumes heavy noise",
    ):
        assert text in out


@pytest.fixture()
def long_history(weights: Path) -> list[str]:
    """A model in ``weights`` trained by 30 long commands (as a chain of resumed runs records)."""
    net = build_arch("tiny", {"width": 4})
    commands = [
        f"tunecli train denoise --data {'/very/long/training/folder/' * 8} --steps {1000 * k} "
        f"--out runs/step-{k:02d}.safetensors --resume runs/step-{k - 1:02d}.resume.safetensors"
        for k in range(1, 31)
    ]
    extra = {"license": "MIT", "training": {"command": commands[-1], "commands": commands, "steps": 30000}}
    meta = model_metadata(net, task="denoise", alpha_space=SCALAR, extra=extra)
    save_checkpoint(weights / "history-test.safetensors", net.state_dict(), meta)
    return commands


def test_models_card_in_a_pipe_is_plain_text_of_short_lines(run_cli: RunCli, long_history: list[str]) -> None:
    """CliRunner's stdout is no terminal, as a pipe or a redirect: plain lines of at most 100
    characters, the long history folded into one row."""
    result = run_cli("models", "history-test")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Model history-test"
    assert max(len(line) for line in lines) <= 100
    assert not any(char in result.stdout for char in "│┃━─")  # no table drawing
    folded = ["training.commands", "30 commands, in order; the last is training.command (--history lists them)"]
    assert folded in [line.split(maxsplit=1) for line in lines]
    assert "step-30.safetensors" in result.stdout  # training.command, the last one
    assert not any(f"step-{k:02d}.safetensors" in result.stdout for k in range(1, 29))
    assert len(result.stdout) < 4000


def test_models_card_history_lists_every_command(run_cli: RunCli, long_history: list[str]) -> None:
    result = run_cli("models", "history-test", "--history")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    for k in range(1, 31):
        assert result.stdout.count(f"training.commands[{k}] ") == 1
        assert f"--out runs/step-{k:02d}.safetensors" in " ".join(result.stdout.split())  # wrapped at spaces only


def test_models_card_on_a_terminal_fits_its_width(
    run_cli: RunCli, long_history: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=72, color_system=None, highlight=False)
    monkeypatch.setattr("tunecli.cli.console.out_console", terminal)
    assert run_cli("models", "history-test").exit_code == 0
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("Model history-test") and "│" in buffer.getvalue()
    assert max(len(line) for line in lines) <= 72
    assert "30 commands, in order;" in buffer.getvalue()


def test_a_card_shows_measured_results_only_for_the_file_they_were_measured_on(
    run_cli: RunCli, long_history: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card that records no metrics gets the headline numbers its task keeps for that very
    file (by SHA-256), with the command that measured them; one with its own metrics keeps those."""
    from tunecli.models import find_model
    from tunecli.tasks import MeasuredResults, get_task

    assert "measured." not in run_cli("models", "history-test").stdout  # no entry for this file yet
    entries = tuple(
        MeasuredResults(
            find_model(name).sha256, (("CBSD68", "PSNR 31.38 dB at σ 25"),), ("python bench/x.py",), ("r.md",)
        )
        for name in ("history-test", DENOISER)
    )
    monkeypatch.setattr(get_task("denoise"), "measured", entries)
    rows = [line.split(maxsplit=1) for line in run_cli("models", "history-test").stdout.splitlines()]
    assert ["measured.CBSD68", "PSNR 31.38 dB at σ 25"] in rows
    assert ["measured.command", "python bench/x.py"] in rows and ["measured.results", "r.md"] in rows
    own = run_cli("models", DENOISER).stdout  # its card records metrics of its own
    assert "metrics." in own and "measured." not in own


def test_models_card_json_keeps_the_history(run_cli: RunCli, long_history: list[str]) -> None:
    card = json.loads(run_cli("models", "history-test", "--json").stdout)
    assert card["training"]["commands"] == long_history


def test_models_json(run_cli: RunCli, weights: Path) -> None:
    listing = json.loads(run_cli("models", "--json").stdout)
    assert [m["name"] for m in listing] == ["deblur-box", DENOISER]
    card = json.loads(run_cli("models", "deblur-box", "--json").stdout)
    assert card["task"] == "deblur" and card["alpha_space"]["domain"] == "box"


def test_models_unknown_name(run_cli: RunCli, weights: Path) -> None:
    result = run_cli("models", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: no model named 'nope' (installed: deblur-box, {DENOISER})")
    assert result.stderr.count("\n") == 1


def test_models_none_installed(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNECLI_WEIGHTS", str(tmp_path))
    monkeypatch.setattr("tunecli.cli.models.shipped_models", list)
    result = run_cli("models")
    assert result.exit_code == 0
    assert "no models installed" in result.stderr
