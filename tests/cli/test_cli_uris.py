"""Inputs and ``-o`` as URIs on the local engine: the same outputs, names, skip/keep rules and
one-line errors as local paths (``file://``), and S3 through moto's in-process server when moto
is installed. The same on Ray: tests/cli/test_cli_ray.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

RunCli = Callable[..., Result]
Snapshot = Callable[[Path], dict[str, bytes]]

pytest.importorskip("pyarrow.fs")


def _tree(folder: Path, write_png: Callable[..., Path]) -> Path:
    write_png(folder / "a.png", seed=1)
    write_png(folder / "gray.png", mode="L", seed=2)
    write_png(folder / "sub" / "b.png", mode="RGBA", seed=3)
    write_png(folder / ".hidden.png", seed=4)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_file_uris_write_what_local_paths_write(
    tmp_path: Path, model: Path, run_cli: RunCli, snapshot: Snapshot, write_png: Callable[..., Path]
) -> None:
    inputs = _tree(tmp_path / "in", write_png)
    local = run_cli("denoise", "-a", "0.3", "-m", model, "-r", inputs, "-o", tmp_path / "local", "--json")
    uri = run_cli(
        "denoise", "-a", "0.3", "-m", model, "-r", inputs.as_uri(), "-o", (tmp_path / "uri").as_uri(), "--json"
    )
    assert local.exit_code == uri.exit_code == 0, uri.stderr
    assert snapshot(tmp_path / "uri") == snapshot(tmp_path / "local")
    assert sorted(snapshot(tmp_path / "uri")) == [
        "a_denoise_a0.30.png",
        "gray_denoise_a0.30.png",
        "sub/b_denoise_a0.30.png",
    ]
    files = json.loads(uri.stdout)["files"]
    assert {(f["input"], f["output"]) for f in files} == {
        (f"{inputs.as_uri()}/{name}.png", f"{(tmp_path / 'uri').as_uri()}/{name}_denoise_a0.30.png")
        for name in ("a", "gray", "sub/b")
    }
    assert json.loads(uri.stdout)["ignored_files"] == 1

    written = snapshot(tmp_path / "uri")
    again = run_cli("denoise", "-a", "0.3", "-m", model, "-r", inputs.as_uri(), "-o", (tmp_path / "uri").as_uri())
    assert again.exit_code == 3 and again.stderr.count("already exists") == 3
    kept = run_cli(
        "denoise", "-a", "0.3", "-m", model, "-r", inputs.as_uri(), "-o", (tmp_path / "uri").as_uri(), "--skip-existing"
    )
    assert kept.exit_code == 0 and "0 done, 3 skipped, 0 failed" in kept.stderr
    assert snapshot(tmp_path / "uri") == written


def test_outputs_land_beside_a_uri_input(tmp_path: Path, model: Path, run_cli: RunCli, write_png) -> None:
    source = write_png(tmp_path / "in" / "a.png")
    result = run_cli("denoise", "-a", "0.3", "-m", model, source.as_uri(), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["output"] == (tmp_path / "in" / "a_denoise_a0.30.png").as_uri()
    assert (tmp_path / "in" / "a_denoise_a0.30.png").is_file()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nosuch://bucket/in", "nosuch://bucket/in: unknown filesystem nosuch:// (pyarrow reads file, s3, gs and hdfs"),
        ("file:///nonexistent-bucket/in", "file:///nonexistent-bucket/in: no such file or folder"),
    ],
)
def test_a_bad_uri_is_one_usage_line(tmp_path: Path, model: Path, run_cli: RunCli, given: str, message: str) -> None:
    result = run_cli("denoise", "-a", "0.3", "-m", model, given, "-o", tmp_path / "out")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not (tmp_path / "out").exists()


def test_an_unwritable_uri_output_stops_the_run_first(tmp_path: Path, model: Path, run_cli: RunCli, write_png) -> None:
    source = write_png(tmp_path / "a.png")
    (tmp_path / "taken").write_text("a file, not a folder")
    result = run_cli("denoise", "-a", "0.3", "-m", model, source, "-o", (tmp_path / "taken" / "out").as_uri())
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {(tmp_path / 'taken' / 'out').as_uri()}: cannot create")


def test_a_sweep_refuses_uris(tmp_path: Path, model: Path, run_cli: RunCli, write_png) -> None:
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, source.as_uri(), "--sweep", "0:1:3")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "--sweep writes its galleries on local paths; pass local inputs and -o, not URIs"
    )


@pytest.fixture()
def s3_query() -> Iterator[str]:
    """An S3 bucket ``bkt`` on moto's in-process server; the URI query (with made-up keys in the
    URI) that points pyarrow at it."""
    server_module = pytest.importorskip("moto.server")
    from pyarrow.fs import FileSystem

    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # one PUT per object: moto cannot complete the multipart uploads pyarrow sends otherwise
        query = f"?endpoint_override={host}:{port}&scheme=http&region=us-east-1&allow_delayed_open=true"
        fs, _ = FileSystem.from_uri(f"s3://key:secret@bkt{query}&allow_bucket_creation=true")
        fs.create_dir("bkt")
        yield query
    finally:
        server.stop()


def test_s3_inputs_and_outputs(
    tmp_path: Path, model: Path, run_cli: RunCli, snapshot: Snapshot, write_png, s3_query: str
) -> None:
    from pyarrow.fs import FileSelector, FileSystem

    inputs = _tree(tmp_path / "in", write_png)
    fs, _ = FileSystem.from_uri(f"s3://key:secret@bkt{s3_query}")
    for path in sorted(inputs.rglob("*")):
        if path.is_file():
            with fs.open_output_stream(f"bkt/in/{path.relative_to(inputs).as_posix()}") as stream:
                stream.write(path.read_bytes())
    assert run_cli("denoise", "-a", "0.3", "-m", model, "-r", inputs, "-o", tmp_path / "local").exit_code == 0
    source, target = f"s3://key:secret@bkt/in{s3_query}", f"s3://key:secret@bkt/out{s3_query}"
    result = run_cli("denoise", "-a", "0.3", "-m", model, "-r", source, "-o", target, "--json")
    assert result.exit_code == 0, result.stderr
    assert "secret" not in result.stdout + result.stderr
    outputs = [info.path for info in fs.get_file_info(FileSelector("bkt/out", recursive=True)) if info.is_file]
    assert {path.removeprefix("bkt/out/"): fs.open_input_stream(path).read() for path in outputs} == snapshot(
        tmp_path / "local"
    )
    assert {f["output"] for f in json.loads(result.stdout)["files"]} == {
        f"s3://bkt/out/{p}" for p in snapshot(tmp_path / "local")
    }
    kept = run_cli("denoise", "-a", "0.3", "-m", model, "-r", source, "-o", target, "--skip-existing")
    assert kept.exit_code == 0 and "0 done, 3 skipped, 0 failed" in kept.stderr

    missing = run_cli(
        "denoise", "-a", "0.3", "-m", model, inputs / "a.png", "-o", f"s3://key:secret@nobkt/out{s3_query}"
    )
    assert missing.exit_code == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: s3://nobkt/out: cannot write into this folder (")
    assert "NO_SUCH_BUCKET" in lines[0]
