"""``tunecli <task> --sweep``: the gallery through the command line (Typer's runner, in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner, Result

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.api import Restorer
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.cli import app
from tunecli.models import model_metadata

SPACE = AlphaSpace(2, "simplex", (AlphaAxis("gentle"), AlphaAxis("strong")), (0.5, 0.5))
BOX = AlphaSpace(2, "box", (AlphaAxis("noise"), AlphaAxis("blur")), (0.5, 0.5))


def save_model(path: Path, task: str, space: AlphaSpace) -> Path:
    net = build_arch("tiny", {"p": 2, "width": 4})
    save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=space))
    return path


def save_png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(path)
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    return save_model(tmp_path / "models" / "tiny-denoise.safetensors", "denoise", SPACE)


def test_sweep_writes_a_gallery_and_a_json_summary(tmp_path: Path, model: Path) -> None:
    source = save_png(tmp_path / "cat.png", 0)
    result = run("denoise", source, "-m", model, "--sweep", "0:1:3", "--tile", "0", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    folder = tmp_path / "cat_denoise_sweep"
    assert summary["galleries"] == [str(folder)] and summary["combined"] is None
    assert [a["label"] for a in summary["alphas"]] == ["a0.00", "a0.50", "a1.00"]
    assert summary["done"] == 3 and summary["failed"] == 0 and summary["exit_code"] == 0
    assert f"gallery: {folder / 'index.html'}" in result.stderr
    assert {p.name for p in folder.iterdir()} >= {"grid.png", "index.html", "manifest.json", "cat_denoise_a0.50.png"}


def test_recursive_sweep_passes_over_a_folder_link(tmp_path: Path, model: Path) -> None:
    save_png(tmp_path / "in" / "cat.png", 0)
    (tmp_path / "in" / "loop").symlink_to(".", target_is_directory=True)
    result = run("denoise", "-r", tmp_path / "in", "-o", tmp_path / "out", "-m", model, "--sweep", "0,1", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["galleries"] == [str(tmp_path / "out" / "cat_denoise_sweep")]
    assert (summary["done"], summary["failed"]) == (2, 0)
    assert f"note: passed over {tmp_path / 'in' / 'loop'}: a link to a folder" in result.stderr


def test_interrupted_sweep_prints_its_summary(tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C on the second image of the first alpha: one output done, the rest of that alpha and
    both images of the second alpha never start, and no gallery page is written."""
    for i, name in enumerate(("a.png", "b.png")):
        save_png(tmp_path / "in" / name, i)
    original = Restorer.restore
    calls = []

    def interrupted_on_the_second_call(self: Restorer, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Restorer, "restore", interrupted_on_the_second_call)
    result = run("denoise", tmp_path / "in", "-o", tmp_path / "out", "-m", model, "--sweep", "0,1", "--json")
    assert result.exit_code == 130
    assert result.stderr.endswith("error: interrupted\n")
    assert "2 alphas × 2 image(s): 1 done, 0 skipped, 0 failed, 3 not started (interrupted) in " in result.stderr
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["not_started"], summary["exit_code"]) == (1, 3, 130)
    assert summary["galleries"] == [] and summary["combined"] is None
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a_denoise_a0.00.png"]


def test_sweep_with_references_over_a_folder(tmp_path: Path, model: Path) -> None:
    for i, name in enumerate(("a.png", "b.png")):
        save_png(tmp_path / "in" / name, i)
        save_png(tmp_path / "clean" / name, i)
    out = tmp_path / "out"
    args = ("denoise", tmp_path / "in", "-m", model, "--sweep", "0,1", "--reference", tmp_path / "clean", "-o", out)
    result = run(*args, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    manifest = json.loads((out / "denoise_sweep" / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 2
    assert all("psnr" in o for i in manifest["inputs"] for o in i["outputs"])
    again = run(*args)
    assert again.exit_code == 1
    assert again.stderr.startswith("error: ") and "output exists (and" in again.stderr
    assert run(*args, "--overwrite", "--quiet").exit_code == 0


def test_box_model_sweeps_a_two_dimensional_grid(tmp_path: Path) -> None:
    model = save_model(tmp_path / "deblur.safetensors", "deblur", BOX)
    source = save_png(tmp_path / "x.png", 0)
    result = run("deblur", source, "-m", model, "--sweep", "noise=0:1:2,blur=0:1:3", "--tile", "0", "-q")
    assert result.exit_code == 0, result.stderr
    with PILImage.open(tmp_path / "x_deblur_sweep" / "grid.png") as grid:
        cells = json.loads(grid.text["tunecli:cells"])
    outputs = [c["box"] for c in cells if c["kind"] == "output"]
    assert len(outputs) == 6 and len({y for _, y, _, _ in outputs}) == 2


def test_sweep_usage_errors_exit_2_and_write_nothing(tmp_path: Path, model: Path) -> None:
    source = save_png(tmp_path / "cat.png", 0)
    before = sorted(tmp_path.rglob("*"))
    wrong = run("denoise", source, "-m", model, "--sweep", "0:2:3")
    assert wrong.exit_code == 2 and "is outside [0, 1]" in wrong.stderr
    file_out = run("denoise", source, "-m", model, "--sweep", "0,1", "-o", tmp_path / "x.png")
    assert file_out.exit_code == 2
    assert "names a file; --sweep writes a folder per input, so pass a folder" in file_out.stderr
    assert sorted(tmp_path.rglob("*")) == before
