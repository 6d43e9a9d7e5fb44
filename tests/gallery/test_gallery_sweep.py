"""Running a sweep: folders, outputs equal to single runs, one bake per alpha, references,
existing files, bad inputs and TIFF previews — with a tiny random model on generated images."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from torch import nn

from tunecli.alpha import AlphaAxis, AlphaSpace, parse_sweep
from tunecli.api import Restorer, load
from tunecli.archs import TilingContract, TunableNet, build_arch, register_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.errors import OutputError, UsageError
from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim
from tunecli.gallery.grid import ALPHAS_TEXT_KEY, CELLS_TEXT_KEY
from tunecli.gallery.sweep import SweepPlan, plan_sweep, run_sweep
from tunecli.imageio import read_image
from tunecli.layers import TunableConv2d
from tunecli.models import model_metadata
from tunecli.runner import OutputOptions

SPACE = AlphaSpace(
    2, "simplex", (AlphaAxis("gentle"), AlphaAxis("strong")), (0.5, 0.5), low="keeps detail", high="smooths"
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = build_arch("tiny", {"p": 2, "width": 4})
    path = tmp_path_factory.mktemp("model") / "tiny-denoise.safetensors"
    save_checkpoint(path, net.state_dict(), model_metadata(net, task="denoise", alpha_space=SPACE))
    return path


@pytest.fixture(scope="module")
def restorer(checkpoint: Path) -> Restorer:
    return load(checkpoint, device="cpu", precision="fp32")


def write_png(path: Path, seed: int, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels).save(path)
    return pixels


def plan(inputs: list[Path], spec: str = "0:1:3", reference: Path | None = None, **options: object) -> SweepPlan:
    return plan_sweep(
        inputs,
        task="denoise",
        space=SPACE,
        sweep=parse_sweep(spec, SPACE),
        spec=spec,
        options=OutputOptions(**options),  # type: ignore[arg-type]
        reference=reference,
    )


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_single_input_sweep_writes_outputs_grid_page_and_manifest(
    tmp_path: Path, restorer: Restorer, checkpoint: Path
) -> None:
    source = tmp_path / "cat.png"
    write_png(source, 0)
    summary = run_sweep(restorer, plan([source]), options=OutputOptions(), tile=0)
    folder = tmp_path / "cat_denoise_sweep"
    assert summary.exit_code == 0 and summary.galleries == [folder] and summary.combined is None
    names = {"cat_denoise_a0.00.png", "cat_denoise_a0.50.png", "cat_denoise_a1.00.png"}
    assert {p.name for p in folder.iterdir()} == names | {"grid.png", "index.html", "manifest.json", "input"}
    assert (folder / "input" / "cat.png").read_bytes() == source.read_bytes()  # the folder stands alone

    # every output is what a plain single-alpha run gives
    for alpha in (0.0, 0.5, 1.0):
        written = read_image(folder / f"cat_denoise_a{alpha:.2f}.png").pixels
        direct = restorer.run(read_image(source), alpha, tile=0).pixels
        np.testing.assert_allclose(written, direct, atol=0.5 / 255 + 1e-6)

    with PILImage.open(folder / "grid.png") as grid:
        alphas = json.loads(grid.text[ALPHAS_TEXT_KEY])
        cells = json.loads(grid.text[CELLS_TEXT_KEY])
    assert [a["text"] for a in alphas] == ["alpha=0.00", "alpha=0.50", "alpha=1.00"]
    assert len([c for c in cells if c["kind"] == "output"]) == 3

    page = (folder / "index.html").read_text()
    for name in names:
        assert f'href="{name}"' in page
    assert 'href="input/cat.png"' in page and "../" not in page

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert manifest["model"]["name"] == "tiny-denoise" and manifest["model"]["task"] == "denoise"
    assert [a["label"] for a in manifest["alphas"]] == ["a0.00", "a0.50", "a1.00"]
    assert manifest["settings"]["device"] == "cpu" and manifest["settings"]["precision"] == "fp32"
    assert manifest["settings"]["ensemble"] is False
    assert manifest["settings"]["tile"] == 0 and manifest["settings"]["overlap"] >= 6
    outputs = manifest["inputs"][0]["outputs"]
    assert [o["file"] for o in outputs] == sorted(names)
    assert [(o["alpha_index"], o["alpha"]) for o in outputs] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert all(o["seconds"] > 0 and o["tile"] == 0 and "psnr" not in o for o in outputs)


def test_each_alpha_is_baked_once_for_all_inputs(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunecli.api

    fresh = load(checkpoint, device="cpu", precision="fp32")
    sources = [tmp_path / f"img{i}.png" for i in range(3)]
    for i, source in enumerate(sources):
        write_png(source, i, size=(40, 72))
    calls: list[tuple[float, ...]] = []
    real_bake = tunecli.api.bake

    def counting_bake(model: torch.nn.Module, omega: torch.Tensor) -> torch.nn.Module:
        calls.append(tuple(omega.tolist()))
        return real_bake(model, omega)

    monkeypatch.setattr(tunecli.api, "bake", counting_bake)
    summary = run_sweep(fresh, plan(sources, "0:1:11", output=tmp_path / "out"), options=OutputOptions(), tile=32)
    assert summary.exit_code == 0 and len(summary.batch.results) == 33
    assert {r.tile for r in summary.batch.results} == {32}  # several tiles per image, one bake per alpha
    assert len(calls) == 11 and len(set(calls)) == 11


def test_several_inputs_get_a_combined_gallery_and_reference_scores(tmp_path: Path, restorer: Restorer) -> None:
    sources = [tmp_path / "in" / "a.png", tmp_path / "in" / "b.png"]
    references = tmp_path / "clean"
    for i, source in enumerate(sources):
        write_png(source, i)
        write_png(references / source.name, 10 + i)
    out = tmp_path / "out"
    sweep_plan = plan([tmp_path / "in"], "0,1", reference=references, output=out)
    summary = run_sweep(restorer, sweep_plan, options=OutputOptions(output=out), tile=0)
    assert summary.exit_code == 0
    assert summary.galleries == [out / "a_denoise_sweep", out / "b_denoise_sweep"]
    assert summary.combined == out / "denoise_sweep"

    combined = json.loads((out / "denoise_sweep" / "manifest.json").read_text())
    assert [Path(i["input"]).name for i in combined["inputs"]] == ["a.png", "b.png"]
    for record in combined["inputs"]:
        reference = read_image(record["reference"]).pixels
        for output in record["outputs"]:
            pixels = read_image(Path(record["folder"]) / output["file"]).pixels
            a, b = quantize_8bit(pixels), quantize_8bit(reference)
            assert output["psnr"] == pytest.approx(psnr(a, b), abs=1e-3)
            assert output["ssim"] == pytest.approx(ssim(a, b), abs=1e-5)
    with PILImage.open(out / "denoise_sweep" / "grid.png") as grid:
        cells = json.loads(grid.text[CELLS_TEXT_KEY])
    assert {(c["image"], c["alpha"]) for c in cells if c["kind"] == "output"} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    page = (out / "denoise_sweep" / "index.html").read_text()
    assert 'href="../a_denoise_sweep/index.html"' in page
    assert 'href="../b_denoise_sweep/b_denoise_a1.00.png"' in page
    assert "dB" in (out / "a_denoise_sweep" / "index.html").read_text()


def test_existing_files_stop_the_sweep_before_anything_runs(tmp_path: Path, restorer: Restorer) -> None:
    source = tmp_path / "cat.png"
    write_png(source, 0)
    run_sweep(restorer, plan([source], "0,1"), options=OutputOptions(), tile=0)
    before = {p: p.read_bytes() for p in files_under(tmp_path)}
    with pytest.raises(OutputError, match=r"cat_denoise_a0\.00\.png: output exists \(and 4 more\); pass --overwrite"):
        plan([source], "0,1")
    assert {p: p.read_bytes() for p in files_under(tmp_path)} == before

    # --skip-existing keeps the outputs and rebuilds the gallery around them
    skipping = OutputOptions(existing="skip")
    summary = run_sweep(restorer, plan([source], "0,1", existing="skip"), options=skipping, tile=0)
    assert summary.batch.count("skipped") == 2 and summary.exit_code == 0
    output = tmp_path / "cat_denoise_sweep" / "cat_denoise_a0.00.png"
    assert output.read_bytes() == before[output]
    manifest = json.loads((tmp_path / "cat_denoise_sweep" / "manifest.json").read_text())
    assert [o["seconds"] for o in manifest["inputs"][0]["outputs"]] == [0.0, 0.0]


def test_a_bad_input_fails_once_and_the_others_get_their_gallery(tmp_path: Path, restorer: Restorer) -> None:
    write_png(tmp_path / "good.png", 0)
    (tmp_path / "bad.png").write_text("not an image")
    summary = run_sweep(restorer, plan([tmp_path], "0:1:3"), options=OutputOptions(), tile=0)
    failed = [r for r in summary.batch.results if r.status == "failed"]
    assert len(failed) == 1 and failed[0].job.source.name == "bad.png"
    assert summary.exit_code == 3
    assert summary.galleries == [tmp_path / "good_denoise_sweep"]
    assert summary.incomplete == [tmp_path / "bad_denoise_sweep"]
    assert (tmp_path / "good_denoise_sweep" / "grid.png").is_file()
    assert (tmp_path / "denoise_sweep" / "grid.png").is_file()
    assert not (tmp_path / "bad_denoise_sweep").exists()


def test_tiff_outputs_get_png_previews_for_the_page(tmp_path: Path, restorer: Restorer) -> None:
    import tifffile

    source = tmp_path / "scan.tif"
    tifffile.imwrite(source, np.random.default_rng(0).integers(0, 65536, (20, 28, 3), dtype=np.uint16))
    run_sweep(restorer, plan([source], "0,1"), options=OutputOptions(), tile=0)
    folder = tmp_path / "scan_denoise_sweep"
    previews = sorted(p.name for p in (folder / "previews").iterdir())
    assert previews == ["scan.tif.png", "scan_denoise_a0.00.tif.png", "scan_denoise_a1.00.tif.png"]
    assert read_image(folder / "scan_denoise_a1.00.tif").meta.dtype == "uint16"
    page = (folder / "index.html").read_text()
    assert 'href="previews/scan_denoise_a1.00.tif.png"' in page
    assert not re.search(r'(?:href|src)="[^"]*\.tif"', page)  # browsers cannot show TIFF
    assert '.tif"}' not in page  # nor in the comparison's data


def test_impossible_plans_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    sources = [tmp_path / "a.png", tmp_path / "b.png"]
    for i, source in enumerate(sources):
        write_png(source, i)
    write_png(tmp_path / "a.jpg", 3)
    before = files_under(tmp_path)
    with pytest.raises(UsageError, match=r"--suffix '_x' needs \{alpha\} with --sweep"):
        plan(sources, suffix="_x")
    with pytest.raises(UsageError, match=r"-o .*out\.png names a file; --sweep writes a folder per input"):
        plan(sources, output=tmp_path / "out.png")
    with pytest.raises(UsageError, match=r"is one file for 2 inputs; pass a folder of references"):
        plan(sources, reference=sources[0])
    with pytest.raises(UsageError, match=r"would share the gallery folder .*a_denoise_sweep"):
        plan([sources[0], tmp_path / "a.jpg"])
    with pytest.raises(UsageError, match=r"alphas alpha=0.30 and alpha=0.30 share the file label a0.30"):
        plan([sources[0]], "0.301,0.302")
    assert files_under(tmp_path) == before


def test_a_bad_reference_or_tile_is_refused_before_running(tmp_path: Path, restorer: Restorer) -> None:
    source = tmp_path / "cat.png"
    write_png(source, 0)
    write_png(tmp_path / "ref.png", 1, size=(10, 10))
    sweep_plan = plan([source], "0,1", reference=tmp_path / "ref.png")
    with pytest.raises(UsageError, match=r"ref\.png is 10x10 colour; outputs of cat\.png will be 32x24 colour"):
        run_sweep(restorer, sweep_plan, options=OutputOptions(), tile=0)
    with pytest.raises(UsageError, match=r"--tile \(16\) must be larger than the overlap"):
        run_sweep(restorer, plan([source], "0,1"), options=OutputOptions(), tile=16)
    assert not (tmp_path / "cat_denoise_sweep").exists()


@register_arch("test-gallery-upsampler", "tunable 3x3 conv + pixel shuffle ×4 (gallery tests)")
class GalleryUpsampler(TunableNet):
    """``(B, 3, H, W)`` → ``(B, 3, 4H, 4W)``; tile-exact, radius 1."""

    def __init__(self, p: int = 2) -> None:
        super().__init__()
        self.p, self.channels = p, 3
        self.conv = TunableConv2d(3, 3 * 16, 3, p, padding=1)
        self.shuffle = nn.PixelShuffle(4)

    @property
    def tiling(self) -> TilingContract:
        return TilingContract(scale=4, size_multiple=1, receptive_radius=1, tile_exact=True)

    def forward(self, x: torch.Tensor, omega: torch.Tensor | None = None) -> torch.Tensor:
        return self.shuffle(self.conv(x, omega))


def test_upscaling_sweep_scores_against_a_large_reference(tmp_path: Path) -> None:
    net = build_arch("test-gallery-upsampler", {})
    checkpoint = tmp_path / "up.safetensors"
    save_checkpoint(checkpoint, net.state_dict(), model_metadata(net, task="upscale", alpha_space=SPACE))
    upscaler = load(checkpoint, device="cpu", precision="fp32")
    source = tmp_path / "small.png"
    write_png(source, 0, size=(12, 16))
    write_png(tmp_path / "big.png", 1, size=(48, 64))
    sweep_plan = plan_sweep(
        [source],
        task="upscale",
        space=SPACE,
        sweep=parse_sweep("0,1", SPACE),
        spec="0,1",
        options=OutputOptions(),
        reference=tmp_path / "big.png",
    )
    run_sweep(upscaler, sweep_plan, options=OutputOptions(), tile=0)
    folder = tmp_path / "small_upscale_sweep"
    assert read_image(folder / "small_upscale_a1.00.png").pixels.shape == (48, 64, 3)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["scale"] == 4
    assert all(isinstance(o["psnr"], float) for o in manifest["inputs"][0]["outputs"])
    with PILImage.open(folder / "grid.png") as grid:
        cells = json.loads(grid.text[CELLS_TEXT_KEY])
    sizes = {tuple(c["box"][2:]) for c in cells}
    assert len(sizes) == 1  # the small input is shown at the outputs' size
    input_crop, output_crop = (c for c in cells if c["kind"] == "crop" and c["alpha"] in (None, 0))
    assert input_crop["box"][2:] == output_crop["box"][2:]
