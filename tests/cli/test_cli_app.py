"""The application shell: fast --help without torch, --version, and the models command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BOX, ModelFactory
from typer.testing import Result

from tunecli import __version__
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
