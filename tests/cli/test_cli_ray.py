"""``--engine ray``: the local runner's outputs, names, failures and exit codes on a local Ray
instance with 2 CPUs (one for the module), through ``file://`` URIs too, a driver killed midway
and resumed, and the one-line errors without the ``[ray]`` extra or with a bad URI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from conftest import ModelFactory
from PIL import Image as PILImage
from typer.testing import Result

RunCli = Callable[..., Result]
Snapshot = Callable[[Path], dict[str, bytes]]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray instance with 2 CPUs for the module; the CLI joins it (and leaves it up)."""
    ray = pytest.importorskip("ray")
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield context.address_info["address"]
    finally:
        ray.shutdown()


def _mixed_folder(folder: Path) -> Path:
    """PNG 8- and 16-bit, gray, RGBA, TIFF 16-bit, JPEG and one damaged PNG."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True)
    rgb = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(folder / "rgb8.png")
    PILImage.fromarray(rng.integers(0, 256, (20, 26), dtype=np.uint8)).save(folder / "gray.png")
    PILImage.fromarray(rng.integers(0, 256, (18, 22, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    deep = rng.integers(0, 65536, (16, 20, 3), dtype=np.uint16)
    png.from_array(deep.reshape(16, -1).tolist(), "RGB;16").save(str(folder / "deep16.png"))
    tifffile.imwrite(folder / "scan.tif", rng.integers(0, 65536, (22, 18, 3), dtype=np.uint16))
    PILImage.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    return folder


def test_ray_matches_local_runner(
    tmp_path: Path, make_model: ModelFactory, run_cli: RunCli, snapshot: Snapshot, ray_address: str
) -> None:
    model = make_model()
    inputs = _mixed_folder(tmp_path / "in")
    local = run_cli("denoise", "-a", "0.3", "-m", model, inputs, "-o", tmp_path / "local", "--json")
    ray = run_cli(
        "denoise", "-a", "0.3", "-m", model, inputs, "-o", tmp_path / "ray", "--json",
        "--engine", "ray", "--address", ray_address,
    )  # fmt: skip
    assert local.exit_code == ray.exit_code == 3, ray.stderr
    written = snapshot(tmp_path / "local")
    assert len(written) == 6 and "broken_denoise_a0.30.png" not in written
    assert snapshot(tmp_path / "ray") == written
    local_files, ray_files = json.loads(local.stdout)["files"], json.loads(ray.stdout)["files"]

    def essentials(files: list[dict], root: Path) -> list[tuple]:
        return [(f["input"], Path(f["output"]).relative_to(root), f["status"], f.get("error")) for f in files]

    assert essentials(ray_files, tmp_path / "ray") == essentials(local_files, tmp_path / "local")
    failed = [f for f in ray_files if f["status"] == "failed"]
    assert [Path(f["input"]).name for f in failed] == ["broken.png"]
    assert "\n" not in failed[0]["error"]
    assert "6 done, 0 skipped, 1 failed" in ray.stderr


def test_ray_reads_and_writes_file_uris(
    tmp_path: Path, make_model: ModelFactory, run_cli: RunCli, snapshot: Snapshot, ray_address: str
) -> None:
    """Inputs and -o as ``file://`` URIs: the workers read and write through pyarrow, the outputs
    are the local runner's byte for byte, and a rerun with --skip-existing keeps them."""
    model = make_model()
    inputs = _mixed_folder(tmp_path / "in")
    (inputs / "sub").mkdir()
    PILImage.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(inputs / "sub" / "flat.png")
    local = run_cli("denoise", "-a", "0.3", "-m", model, "-r", inputs, "-o", tmp_path / "local")
    ray_command = (
        "denoise", "-a", "0.3", "-m", model, "-r", inputs.as_uri(), "-o", (tmp_path / "ray").as_uri(), "--json",
        "--engine", "ray", "--address", ray_address,
    )  # fmt: skip
    ray = run_cli(*ray_command)
    assert local.exit_code == ray.exit_code == 3, ray.stderr
    written = snapshot(tmp_path / "local")
    assert len(written) == 7 and "sub/flat_denoise_a0.30.png" in written
    assert snapshot(tmp_path / "ray") == written
    failed = [f for f in json.loads(ray.stdout)["files"] if f["status"] == "failed"]
    assert [f["input"] for f in failed] == [f"{inputs.as_uri()}/broken.png"]
    assert failed[0]["error"].startswith(f"{inputs.as_uri()}/broken.png: damaged")

    again = run_cli(*ray_command, "--skip-existing")
    summary = json.loads(again.stdout)
    assert again.exit_code == 3 and (summary["done"], summary["skipped"], summary["failed"]) == (0, 7, 1)
    assert snapshot(tmp_path / "ray") == written


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("nosuch://bucket/in",), "nosuch://bucket/in: unknown filesystem nosuch://"),
        (("file:///nonexistent-bucket/in",), "file:///nonexistent-bucket/in: no such file or folder"),
        (("{source}", "-o", "nosuch://bucket/out"), "nosuch://bucket/out: unknown filesystem nosuch://"),
    ],
)
def test_a_bad_uri_stops_a_ray_run_before_it_starts(
    tmp_path: Path, model: Path, run_cli: RunCli, write_png, arguments: tuple[str, ...], message: str
) -> None:
    source = write_png(tmp_path / "a.png")
    given = [str(source) if argument == "{source}" else argument for argument in arguments]
    result = run_cli("denoise", "-a", "0.3", "-m", model, *given, "--engine", "ray")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "models"]


def test_ray_resumes_a_killed_run(
    tmp_path: Path, make_model: ModelFactory, run_cli: RunCli, snapshot: Snapshot, ray_address: str
) -> None:
    """The driver is killed midway; a rerun with --skip-existing writes each missing file once."""
    model = make_model()
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    count = 16
    for index in range(count):
        # a few tenths of a second per file on 2 CPUs, so the kill lands midway
        PILImage.fromarray(rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)).save(inputs / f"{index:02d}.png")
    assert run_cli("denoise", "-m", model, inputs, "-o", tmp_path / "local").exit_code == 0
    out = tmp_path / "ray"
    command = [
        sys.executable, "-m", "tunecli", "denoise", "-q", "-m", str(model), str(inputs), "-o", str(out),
        "--engine", "ray", "--address", ray_address, "--workers", "1",
    ]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        if out.is_dir() and len([p for p in out.iterdir() if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    first = {name for name in os.listdir(out) if not name.startswith(".")}
    assert 2 <= len(first) < count, (len(first), driver.stderr.read() if driver.stderr else "")

    again = run_cli(
        "denoise", "-m", model, inputs, "-o", out, "--skip-existing", "--json",
        "--engine", "ray", "--address", ray_address,
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    files = json.loads(again.stdout)["files"]
    done = {Path(f["output"]).name for f in files if f["status"] == "done"}
    skipped = {Path(f["output"]).name for f in files if f["status"] == "skipped"}
    assert skipped == first and not done & first and len(done) == count - len(first)
    visible = {name: data for name, data in snapshot(out).items() if not name.startswith(".")}
    assert visible == snapshot(tmp_path / "local")


def test_sweep_is_refused_on_ray(tmp_path: Path, model: Path, run_cli: RunCli, write_png) -> None:
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, source, "--sweep", "0:1:3", "--engine", "ray")
    assert result.exit_code == 2
    assert (
        result.stderr.strip().splitlines()[-1].endswith("--sweep runs on the local engine only; leave out --engine ray")
    )


def test_ray_options_need_the_ray_engine(tmp_path: Path, model: Path, run_cli: RunCli, write_png) -> None:
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, source, "--workers", "2")
    assert result.exit_code == 2
    assert "--address and --workers are options of --engine ray" in result.stderr


def test_missing_extra_is_one_line(
    tmp_path: Path, model: Path, run_cli: RunCli, write_png, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError, as without the extra
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, source, "-o", tmp_path / "out", "--engine", "ray")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("--engine ray needs Ray: pip install 'tunecli[ray]'")
    assert not (tmp_path / "out").exists()


def test_help_does_not_import_ray() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom tunecli.cli import app\n"
        "assert CliRunner().invoke(app, ['denoise', '--help']).exit_code == 0\n"
        "assert 'ray' not in sys.modules\nprint('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
