"""The task commands through Typer's runner: every option group, naming, exit codes, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BOX, ModelFactory
from PIL import Image as PILImage
from PIL import JpegImagePlugin
from typer.testing import Result

from tunecli.api import load
from tunecli.imageio import read_image
from tunecli.tasks import default_models

RunCli = Callable[..., Result]
WritePng = Callable[..., Path]
Snapshot = Callable[[Path], dict[str, bytes]]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path))


# ---- the basic run and its output -------------------------------------------------------------


def test_denoise_writes_the_named_output_equal_to_the_api(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    source = write_png(tmp_path / "cat.png")
    before = source.read_bytes()
    result = run_cli("denoise", "-m", model, "--alpha", "0.3", source)
    assert result.exit_code == 0, result.output
    target = tmp_path / "cat_denoise_a0.30.png"
    assert f"wrote: {target}" in result.stderr
    assert result.stdout == ""
    expected = load(model, device="cpu").run(pixels(source), alpha=0.3)
    assert np.array_equal(pixels(target), expected)
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    "task,arch,hparams",
    [("denoise", "tiny", None), ("deblur", "tiny", None), ("style", "tiny", None), ("upscale", "test-upsampler", {})],
)
def test_every_task_command_runs_its_model(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path, task: str, arch: str, hparams: dict
) -> None:
    model = make_model(task, arch=arch, hparams=hparams)
    source = write_png(tmp_path / "in" / "pic.png", height=6, width=7)
    result = run_cli(task, "-m", model, "-a", "0.7", source)
    assert result.exit_code == 0, result.output
    out = pixels(tmp_path / "in" / f"pic_{task}_a0.70.png")
    scale = 4 if task == "upscale" else 1
    assert out.shape == (6 * scale, 7 * scale, 3)


def test_upscale_carries_the_alpha_channel_resized(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path
) -> None:
    model = make_model("upscale", arch="test-upsampler", hparams={})
    source = write_png(tmp_path / "icon.png", height=5, width=6, mode="RGBA")
    rgba = np.asarray(PILImage.open(source)).copy()
    rgba[:, :3, 3], rgba[:, 3:, 3] = 0, 255  # transparent left half, opaque right half
    PILImage.fromarray(rgba, "RGBA").save(source)
    assert run_cli("upscale", "-m", model, source, "-o", tmp_path / "big.png").exit_code == 0
    out = PILImage.open(tmp_path / "big.png")
    assert out.mode == "RGBA" and out.size == (24, 20)
    alpha = np.asarray(out)[:, :, 3]
    assert (alpha[:, :8] == 0).all() and (alpha[:, 16:] == 255).all()
    assert np.array_equal(np.asarray(out)[:, :, :3], load(model).run(rgba[:, :, :3]))


def test_gray_image_through_a_colour_model_stays_gray(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    source = write_png(tmp_path / "gray.png", mode="L")
    assert run_cli("denoise", "-m", model, source, "-o", tmp_path / "out.png").exit_code == 0
    assert PILImage.open(tmp_path / "out.png").mode == "L"


def test_default_model_comes_from_the_weights_folder(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_model("denoise", name=default_models()["denoise"], folder=tmp_path / "weights")
    monkeypatch.setenv("TUNECLI_WEIGHTS", str(tmp_path / "weights"))
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", source)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a_denoise_a0.50.png").is_file()  # the model's default alpha


def test_missing_default_model_says_how_to_pass_one(
    run_cli: RunCli, write_png: WritePng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNECLI_WEIGHTS", str(tmp_path))
    monkeypatch.setattr("tunecli.models.weights_dirs", lambda: [tmp_path])
    result = run_cli("upscale", write_png(tmp_path / "a.png"))
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no upscale model is installed (the default is 'upscale-x4'); pass a checkpoint with --model PATH\n"
    )


def test_upscale_scale_picks_the_default_model_of_that_scale(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights"
    make_model("upscale", name="upscale-x2", arch="test-upsampler", hparams={"scale": 2}, folder=weights)
    make_model("upscale", name="upscale-x4", arch="test-upsampler", hparams={"scale": 4}, folder=weights)
    monkeypatch.setattr("tunecli.models.weights_dirs", lambda: [weights])
    source = write_png(tmp_path / "a.png", height=10, width=12)
    assert run_cli("upscale", "--scale", "2", source, "-o", tmp_path / "x2.png").exit_code == 0
    assert PILImage.open(tmp_path / "x2.png").size == (24, 20)
    assert run_cli("upscale", source, "-o", tmp_path / "x4.png").exit_code == 0
    assert PILImage.open(tmp_path / "x4.png").size == (48, 40)
    result = run_cli("upscale", "--scale", "3", source)
    assert result.exit_code == 2 and result.stderr == "error: --scale 3: upscale models come in x2, x4\n"
    result = run_cli("upscale", "--scale", "2", "-m", weights / "upscale-x4.safetensors", source)
    assert result.exit_code == 2 and "upscales x4, not x2" in result.stderr
    result = run_cli("denoise", "--scale", "2", source)
    assert result.exit_code == 2 and result.stderr == "error: --scale is an option of upscaling tasks, not of denoise\n"


def test_model_of_another_task_is_refused(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path
) -> None:
    model = make_model("deblur")
    result = run_cli("denoise", "-m", model, write_png(tmp_path / "a.png"))
    assert result.exit_code == 2
    assert "is a deblur model; use `tunecli deblur` or another --model" in result.stderr


# ---- alpha -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha,message",
    [
        (
            "1.5",
            "error: alpha 1.5 is outside [0, 1]: use a number in [0, 1] (e.g. 0.3), or gentle=V,strong=V summing to 1",
        ),
        (
            "nan",
            "error: alpha 'nan' is not a finite number: use a number in [0, 1] (e.g. 0.3), or gentle=V,strong=V summing to 1",
        ),
        ("0.1,0.2,0.7", "error: alpha '0.1,0.2,0.7' has 3 value(s), the model has 2 axes (gentle, strong): use"),
        ("blur=1", "error: unknown alpha axis 'blur'; axes are gentle, strong: use"),
    ],
)
def test_bad_alpha_is_a_usage_error_and_nothing_is_written(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot, alpha: str, message: str
) -> None:
    source = write_png(tmp_path / "in" / "a.png")
    before = snapshot(tmp_path / "in")
    result = run_cli("denoise", "-m", model, "--alpha", alpha, source)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert snapshot(tmp_path / "in") == before


def test_named_and_normalized_alpha(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path
) -> None:
    model = make_model("denoise")
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, "-a", "gentle=1,strong=3", source)
    assert result.exit_code == 0, result.output
    assert "note: alpha 'gentle=1,strong=3' sums to 4; normalized to 0.25,0.75" in result.stderr
    assert (tmp_path / "a_denoise_a0.75.png").is_file()
    box = make_model("deblur", space=BOX)
    assert run_cli("deblur", "-m", box, "-a", "blur=0.2", source).exit_code == 0
    assert (tmp_path / "a_deblur_a0.50-0.20.png").is_file()


def test_sweep_option_checks(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png")
    both = run_cli("denoise", "-m", model, "--sweep", "0:1:3", "-a", "0.3", source)
    assert both.exit_code == 2
    assert both.stderr == "error: --alpha and --sweep exclude each other; pass one\n"
    bad = run_cli("denoise", "-m", model, "--sweep", "0:1", source)
    assert bad.exit_code == 2 and "a range is start:stop:count" in bad.stderr
    lone = run_cli("denoise", "-m", model, "--reference", source, source)
    assert lone.exit_code == 2
    assert lone.stderr == "error: --reference scores a sweep's outputs; pass it with --sweep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "models"]


# ---- output options ----------------------------------------------------------------------------


def test_output_file_folder_and_suffix(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png")
    assert run_cli("denoise", "-m", model, "-a", "0.3", source, "-o", tmp_path / "x" / "clean.png").exit_code == 0
    assert (tmp_path / "x" / "clean.png").is_file()
    assert run_cli("denoise", "-m", model, "-a", "0.3", source, "-o", tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / "a_denoise_a0.30.png").is_file()
    result = run_cli("denoise", "-m", model, "-a", "0.3", source, "-o", tmp_path / "out", "--suffix", "-{alpha}-{task}")
    assert result.exit_code == 0
    assert (tmp_path / "out" / "a-a0.30-denoise.png").is_file()


def test_format_quality_and_bit_depth(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png", height=48, width=48)
    out = tmp_path / "out"
    assert run_cli("denoise", "-m", model, source, "-o", out, "--format", "jpg", "--quality", "95").exit_code == 0
    high = (out / "a_denoise_a0.50.jpg").stat().st_size
    assert PILImage.open(out / "a_denoise_a0.50.jpg").format == "JPEG"
    result = run_cli("denoise", "-m", model, source, "-o", out, "--format", "jpg", "--quality", "10", "--overwrite")
    assert result.exit_code == 0
    assert (out / "a_denoise_a0.50.jpg").stat().st_size < high
    assert run_cli("denoise", "-m", model, source, "-o", out, "--format", "tif", "--bit-depth", "16").exit_code == 0
    assert read_image(out / "a_denoise_a0.50.tif").meta.dtype == "uint16"
    assert run_cli("denoise", "-m", model, source, "-o", out / "deep.png", "--bit-depth", "16").exit_code == 0
    assert read_image(out / "deep.png").meta.dtype == "uint16"
    refused = run_cli("denoise", "-m", model, source, "-o", out, "--format", "gif")
    assert refused.exit_code == 2 and "'gif' is not one of" in refused.output
    clash = run_cli("denoise", "-m", model, source, "-o", out / "x.png", "--format", "jpg")
    assert clash.exit_code == 2 and "does not match --format jpg" in clash.stderr


def test_progressive_444_jpeg_comes_back_progressive_444(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    source = tmp_path / "photo.jpg"
    PILImage.open(write_png(tmp_path / "a.png", height=24, width=32)).save(source, progressive=True, subsampling=0)
    result = run_cli("denoise", "-m", model, source, "-o", tmp_path / "out", "--quality", "50")
    assert result.exit_code == 0, result.output
    with PILImage.open(tmp_path / "out" / "photo_denoise_a0.50.jpg") as out:
        assert out.info.get("progressive") and JpegImagePlugin.get_sampling(out) == 0


def test_skip_existing_and_overwrite(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot
) -> None:
    source = write_png(tmp_path / "a.png")
    target = tmp_path / "a_denoise_a0.30.png"
    target.write_bytes(b"old")
    exists = run_cli("denoise", "-m", model, "-a", "0.3", source)
    assert exists.exit_code == 1
    assert f"failed: {source}: {target}: already exists (use --overwrite" in exists.stderr
    assert target.read_bytes() == b"old"

    skipped = run_cli("denoise", "-m", model, "-a", "0.3", source, "--skip-existing", "--json")
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["files"][0]["status"] == "skipped"
    assert target.read_bytes() == b"old"

    replaced = run_cli("denoise", "-m", model, "-a", "0.3", source, "--overwrite")
    assert replaced.exit_code == 0
    assert PILImage.open(target).size == (28, 20)
    assert sorted(snapshot(tmp_path)) == ["a.png", "a_denoise_a0.30.png", "models/denoise-test.safetensors"]

    both = run_cli("denoise", "-m", model, source, "--skip-existing", "--overwrite")
    assert both.exit_code == 2
    assert both.stderr == "error: --skip-existing and --overwrite exclude each other; pass one\n"


def test_recursive_mirrors_the_tree(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot
) -> None:
    photos = tmp_path / "photos"
    write_png(photos / "top.png", seed=1)
    write_png(photos / "2023" / "june" / "beach.png", seed=2)
    write_png(photos / "2024" / "snow.png", seed=3)
    (photos / "2024" / "notes.txt").write_text("not an image")
    before = snapshot(photos)

    flat = run_cli("denoise", "-m", model, "-a", "0.3", photos, "-o", tmp_path / "flat")
    assert flat.exit_code == 0, flat.output
    assert sorted(snapshot(tmp_path / "flat")) == ["top_denoise_a0.30.png"]

    deep = run_cli("denoise", "-m", model, "-a", "0.3", "-r", photos, "-o", tmp_path / "out", "--json")
    assert deep.exit_code == 0, deep.output
    assert sorted(snapshot(tmp_path / "out")) == [
        "2023/june/beach_denoise_a0.30.png",
        "2024/snow_denoise_a0.30.png",
        "top_denoise_a0.30.png",
    ]
    summary = json.loads(deep.stdout)
    assert summary["done"] == 3 and summary["ignored_files"] == 1
    assert "passed over 1 file(s) that are not images" in deep.stderr
    assert snapshot(photos) == before


def test_recursive_passes_over_folder_links_once_each(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot
) -> None:
    """A link to a folder below an input is not followed (a note names it): a `loop -> .` link
    neither repeats the tree nor inflates the counts. A link given as the input is walked."""
    photos = tmp_path / "photos"
    write_png(photos / "good.png")
    write_png(tmp_path / "elsewhere" / "other.png", seed=1)
    (photos / "loop").symlink_to(".", target_is_directory=True)
    (photos / "ext").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    result = run_cli("denoise", "-m", model, "-r", photos, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(snapshot(tmp_path / "out")) == ["good_denoise_a0.50.png"]
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (1, 0, 0)
    assert [Path(f["input"]) for f in summary["files"]] == [photos / "good.png"]
    for link in ("ext", "loop"):
        assert f"note: passed over {photos / link}: a link to a folder (not followed; " in result.stderr
    assert result.stderr.count("note: passed over") == 2
    assert "1 done, 0 skipped, 0 failed in " in result.stderr

    linked = run_cli("denoise", "-m", model, "-r", photos / "ext", "-o", tmp_path / "ext-out", "-q")
    assert linked.exit_code == 0, linked.output
    assert sorted(snapshot(tmp_path / "ext-out")) == ["other_denoise_a0.50.png"]


def test_recursive_without_output_writes_next_to_each_input(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    write_png(tmp_path / "p" / "sub" / "x.png")
    assert run_cli("denoise", "-m", model, "-r", tmp_path / "p").exit_code == 0
    assert (tmp_path / "p" / "sub" / "x_denoise_a0.50.png").is_file()


def test_plan_errors_are_usage_errors(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path, snapshot: Snapshot
) -> None:
    a = write_png(tmp_path / "a.png")
    b = write_png(tmp_path / "b.png")
    before = snapshot(tmp_path)
    cases = [
        (("-o", a), f"error: {a}: output would overwrite an input; choose another -o or --suffix\n"),
        (("--suffix", ""), f"error: {a}: output would overwrite an input; choose another -o or --suffix\n"),
        (
            (b, "-o", tmp_path / "one.png"),
            f"error: -o {tmp_path / 'one.png'} names a file, but there are several inputs; pass a folder\n",
        ),
        ((tmp_path / "missing.png",), f"error: {tmp_path / 'missing.png'}: no such file or folder\n"),
        (("--suffix", "x/y"), "error: --suffix 'x/y' must not contain a path separator\n"),
        (("--tile", "big"), "error: --tile 'big': use auto, 0 (whole image) or a side in pixels\n"),
        (("--tile", "-8"), "error: --tile must be auto, 0 or a positive number of pixels, not -8\n"),
        (("--alpha-map-mode", "slow"), "error: --alpha-map-mode must be one of exact, fast, not 'slow'\n"),
        (
            ("--tile", "8", "--overlap", "8"),
            "error: --tile (8) must be larger than the overlap (8; set it with --overlap)\n",
        ),
        (("--tile", "12"), "error: --tile (12) must be larger than the overlap (22; set it with --overlap)\n"),
        (("--max-pixels", "0"), "error: --max-pixels must be a positive number of pixels\n"),
    ]
    for extra, message in cases:
        result = run_cli("denoise", "-m", model, a, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert result.stderr == message
    assert snapshot(tmp_path) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("denoise", "-m", model, empty)
    assert result.exit_code == 2
    assert result.stderr == f"error: {empty}: no images found in this folder (use -r to include subfolders)\n"


def test_two_inputs_with_one_output_name_are_refused(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    a = write_png(tmp_path / "one" / "a.png")
    b = write_png(tmp_path / "two" / "a.png")
    result = run_cli("denoise", "-m", model, a, b, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"error: {a} and {b} would both be written to {tmp_path / 'out' / 'a_denoise_a0.50.png'}\n"


# ---- performance options -----------------------------------------------------------------------


def test_tiles_overlap_and_precision_give_the_same_image(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path
) -> None:
    model = make_model("denoise", arch="unet", hparams={"widths": [4, 8], "blocks": [1, 1]})
    source = write_png(tmp_path / "a.png", height=45, width=61)
    runs = {
        "whole": ("--tile", "0"),
        "tiled": ("--tile", "48", "--device", "cpu"),
        "overlap": ("--tile", "36", "--overlap", "24"),
        "bf16": ("--precision", "bf16"),
    }
    for name, extra in runs.items():
        result = run_cli("denoise", "-m", model, source, "-o", tmp_path / f"{name}.png", *extra, "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        if name == "tiled":
            assert report["tile"] == 48 and report["device"] == "cpu"
    whole = pixels(tmp_path / "whole.png").astype(int)
    assert np.abs(pixels(tmp_path / "tiled.png").astype(int) - whole).max() <= 1
    assert np.abs(pixels(tmp_path / "overlap.png").astype(int) - whole).max() <= 1
    assert np.abs(pixels(tmp_path / "bf16.png").astype(int) - whole).max() <= 8


def test_device_errors(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png")
    bogus = run_cli("denoise", "-m", model, source, "--device", "tpu")
    assert bogus.exit_code == 2
    assert bogus.stderr == "error: unknown device 'tpu': use one of auto, cpu, cuda, cuda:N, mps\n"
    if not torch.cuda.is_available():
        cuda = run_cli("denoise", "-m", model, source, "--device", "cuda")
        assert cuda.exit_code == 1
        assert cuda.stderr == "error: device 'cuda' requested but CUDA is not available; use --device cpu\n"


def test_max_pixels_guards_against_huge_images(
    run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path
) -> None:
    source = write_png(tmp_path / "a.png")
    result = run_cli("denoise", "-m", model, source, "--max-pixels", "100")
    assert result.exit_code == 1
    assert "decompression-bomb guard" in result.stderr and "--max-pixels" in result.stderr
    assert not (tmp_path / "a_denoise_a0.50.png").exists()
    assert run_cli("denoise", "-m", model, source, "--max-pixels", "560").exit_code == 0


# ---- reporting ---------------------------------------------------------------------------------


def test_json_summary_on_stdout(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    a, b = write_png(tmp_path / "a.png"), write_png(tmp_path / "b.png", seed=5)
    (tmp_path / "b_denoise_a0.20.png").write_bytes(b"x")
    result = run_cli("denoise", "-m", model, "-a", "0.2", a, b, "--json", "--skip-existing")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["command"] == "denoise" and report["model"] == "denoise-test"
    assert report["alpha"] == [0.8, 0.2] and report["alpha_label"] == "a0.20"
    assert report["precision"] == "fp32" and report["device"] == "cpu"
    assert (report["done"], report["skipped"], report["failed"], report["exit_code"]) == (1, 1, 0, 0)
    assert [f["status"] for f in report["files"]] == ["done", "skipped"]
    assert report["files"][0]["output"] == str(tmp_path / "a_denoise_a0.20.png")
    assert "{" not in result.stderr


def test_quiet_and_debug(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png")
    quiet = run_cli("denoise", "-m", model, source, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    plain = run_cli("denoise", "-m", model, broken, "-q")
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith(f"failed: {broken}: ")
    debug = run_cli("denoise", "-m", model, broken, "--debug")
    assert debug.exit_code == 1 and "Traceback (most recent call last)" in debug.stderr
    usage = run_cli("--debug", "denoise", "-m", model, source, "-a", "7")
    assert usage.exit_code == 2 and "Traceback" in usage.stderr and "AlphaError" in usage.stderr


def test_ensemble_flag_runs_the_api_ensemble(run_cli: RunCli, model: Path, write_png: WritePng, tmp_path: Path) -> None:
    source = write_png(tmp_path / "a.png", height=24, width=30)
    result = run_cli("denoise", "-m", model, "-a", "0.4", source, "-o", tmp_path / "e.png", "--ensemble", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ensemble"] is True
    assert "cpu fp32 · ensemble x8 · tile" in result.stderr
    expected = load(model, device="cpu", ensemble=True).run(source, alpha=0.4)
    got = read_image(tmp_path / "e.png").pixels
    assert np.abs(got - expected.pixels).max() <= 0.5 / 255 + 1e-6  # equal up to 8-bit rounding
    plain = run_cli("denoise", "-m", model, "-a", "0.4", source, "-o", tmp_path / "p.png", "--json")
    assert json.loads(plain.stdout)["ensemble"] is False
    # a sweep's gallery page states the same compute line as the run's summary
    swept = run_cli("denoise", "-m", model, "--sweep", "0,1", source, "-o", tmp_path / "g", "--ensemble")
    assert swept.exit_code == 0, swept.stderr
    assert "cpu fp32 · ensemble x8" in swept.stderr
    assert "cpu fp32 · ensemble x8 · tile auto" in (tmp_path / "g" / "a_denoise_sweep" / "index.html").read_text()
