"""Per-pixel alpha (``--alpha-map``): exact mode, fast mode, tiling, errors and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.alpha_map import blend_weights
from tunecli.api import load
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.cli import app
from tunecli.errors import UsageError
from tunecli.models import model_metadata

SIMPLEX = AlphaSpace(
    p=2, domain="simplex", axes=(AlphaAxis("gentle", "g"), AlphaAxis("strong", "s")), default=(0.5, 0.5)
)
BOX = AlphaSpace(p=2, domain="box", axes=(AlphaAxis("noise", "n"), AlphaAxis("blur", "b")), default=(0.2, 0.5))
UNET = {"widths": [4, 8], "blocks": [1, 1], "p": 2}


def save(folder: Path, arch: str = "unet", hparams: dict | None = None, space: AlphaSpace = SIMPLEX) -> Path:
    torch.manual_seed(0)
    net = build_arch(arch, hparams or UNET)
    path = folder / f"{arch}-{space.domain}.safetensors"
    task = "deblur" if space.domain == "box" else "denoise"
    save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=space))
    return path


def photo(height: int = 48, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((height, width, 3), dtype=np.float32)


def test_a_constant_map_gives_the_uniform_alpha_output(tmp_path: Path) -> None:
    restorer = load(save(tmp_path), device="cpu")
    image = photo()
    for alpha in (0.0, 0.3, 1.0):
        uniform = restorer.run(image, alpha=alpha, tile=0)
        flat = np.full(image.shape[:2], alpha, np.float32)
        np.testing.assert_allclose(restorer.run(image, alpha_map=flat, tile=0), uniform, atol=1e-5)
        np.testing.assert_allclose(restorer.run(image, alpha_map=flat, alpha_map_mode="fast"), uniform, atol=1e-6)


def test_a_constant_map_on_a_box_model_gives_the_uniform_output(tmp_path: Path) -> None:
    restorer = load(save(tmp_path, hparams={**UNET, "affine": True}, space=BOX), device="cpu")
    image = photo()
    flat = np.empty((*image.shape[:2], 3), np.float32)
    flat[..., 0], flat[..., 1], flat[..., 2] = 0.25, 0.75, 0.9  # the third channel is ignored
    uniform = restorer.run(image, alpha=(0.25, 0.75), tile=0)
    np.testing.assert_allclose(restorer.run(image, alpha_map=flat, tile=0), uniform, atol=1e-5)
    with pytest.raises(UsageError, match=r"one channel per axis \(noise, blur\)"):
        restorer.run(image, alpha_map=flat[..., 0], tile=0)


def test_exact_mode_is_tile_exact_and_local(tmp_path: Path) -> None:
    restorer = load(save(tmp_path), device="cpu")
    image = photo(64, 96)
    alpha_map = np.zeros(image.shape[:2], np.float32)
    alpha_map[:, 48:] = 1.0
    whole = restorer.run(image, alpha_map=alpha_map, tile=0)
    tile = restorer.check_tiling(0, None) + 16
    np.testing.assert_allclose(restorer.run(image, alpha_map=alpha_map, tile=tile), whole, atol=1e-5)
    # far from the edge of the map (receptive radius plus the coarse level's resampling), each
    # side is that alpha's uniform output
    reach = restorer.model.tiling.receptive_radius + 4
    at0 = restorer.run(image, alpha=0.0, tile=0)
    at1 = restorer.run(image, alpha=1.0, tile=0)
    np.testing.assert_allclose(whole[:, : 48 - reach], at0[:, : 48 - reach], atol=1e-5)
    np.testing.assert_allclose(whole[:, 48 + reach :], at1[:, 48 + reach :], atol=1e-5)
    assert np.abs(whole[:, 44:52] - at0[:, 44:52]).max() > 1e-3  # the edge itself mixes


@pytest.mark.slow
def test_the_shipped_denoiser_smooths_more_where_the_map_is_higher() -> None:
    from skimage import data

    restorer = load("weights/denoise-unet-l4.safetensors", device="cpu")
    clean = data.astronaut()[64:320, 64:320].astype(np.float32) / 255
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)
    residuals = []
    outside = restorer.run(noisy, alpha=0.0, tile=0)
    far = 128 + restorer.model.tiling.receptive_radius + 8
    for level in (0.0, 0.5, 1.0):
        alpha_map = np.zeros(clean.shape[:2], np.float32)
        alpha_map[64:128, 64:128] = level
        out = restorer.run(noisy, alpha_map=alpha_map, tile=0)
        residuals.append(float(np.sqrt(np.mean((out[80:112, 80:112] - noisy[80:112, 80:112]) ** 2))))
        np.testing.assert_allclose(out[:, far:], outside[:, far:], atol=1e-4)  # far away: untouched
    assert residuals[0] < residuals[1] < residuals[2]


def test_fast_mode_blends_between_the_nearest_levels(tmp_path: Path) -> None:
    weights = blend_weights(torch.tensor([[0.0, 0.25, 0.5, 0.9, 1.0]]), [0.0, 0.5, 1.0])
    torch.testing.assert_close(weights.sum(0), torch.ones(1, 5))
    torch.testing.assert_close(weights[:, 0, 1], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(weights[:, 0, 3], torch.tensor([0.0, 0.2, 0.8]))
    restorer = load(save(tmp_path), device="cpu")
    image = photo(48, 65)
    ramp = np.tile(np.linspace(0, 1, 65, dtype=np.float32), (48, 1))  # column 32 is exactly 0.5
    fast = restorer.restore_map(_image(image), ramp, mode="fast", levels=3)
    assert "3 uniform runs blended per pixel" in fast.notices[-1]
    at_half = np.clip(restorer.run(image, alpha=0.5, tile=0), 0, 1)
    np.testing.assert_allclose(fast.image.pixels[:, 32], at_half[:, 32], atol=1e-6)
    exact = restorer.run(image, alpha_map=ramp, tile=0)
    assert np.abs(fast.image.pixels - exact).mean() < 0.1  # close but not the same computation


def test_maps_are_checked_and_resized_with_a_notice(tmp_path: Path) -> None:
    restorer = load(save(tmp_path), device="cpu")
    image = photo()
    small = np.full((12, 16), 0.4, np.float32)
    done = restorer.restore_map(_image(image), small)
    assert done.notices[0] == "alpha map resized from 16x12 to 64x48"
    np.testing.assert_allclose(done.image.pixels, np.clip(restorer.run(image, alpha=0.4, tile=0), 0, 1), atol=1e-5)
    with pytest.raises(UsageError, match=r"values in \[0, 1\]"):
        restorer.run(image, alpha_map=np.full((48, 64), 1.5, np.float32))
    with pytest.raises(UsageError, match="--alpha-map-mode must be one of exact, fast"):
        restorer.restore_map(_image(image), small, mode="quick")
    styled = load(save(tmp_path, arch="tiny", hparams={"width": 4}), device="cpu")
    with pytest.raises(UsageError, match="no per-pixel form"):
        styled.run(image, alpha_map=small)


def test_cli_writes_the_mapped_output_and_refuses_alpha_with_a_map(tmp_path: Path) -> None:
    model = save(tmp_path)
    source = tmp_path / "in.png"
    PILImage.fromarray(np.round(photo() * 255).astype(np.uint8)).save(source)
    mask = tmp_path / "mask.png"
    PILImage.fromarray(np.full((48, 64), 77, np.uint8)).save(mask)
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        app, ["denoise", str(source), "--model", str(model), "--alpha-map", str(mask), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = np.asarray(PILImage.open(out / "in_denoise_map.png"), dtype=np.float32) / 255
    saved = np.asarray(PILImage.open(source), dtype=np.float32) / 255
    expected = np.clip(load(model, device="cpu").run(saved, alpha=77 / 255, tile=0), 0, 1)
    assert np.abs(written - np.round(expected * 255) / 255).max() <= 1 / 255 + 1e-6
    both = runner.invoke(app, ["denoise", str(source), "--model", str(model), "--alpha-map", str(mask), "-a", "0.3"])
    assert both.exit_code == 2
    assert "--alpha-map sets the alpha of every pixel; leave out --alpha and --sweep" in both.output


#: the alpha of each quadrant of :func:`quadrant_map`: top ≠ bottom and left ≠ right, so a map
#: applied flipped (either way) or transposed puts a wrong alpha on some quadrant
QUADRANTS = {("top", "left"): 0.0, ("top", "right"): 0.5, ("bottom", "left"): 1.0, ("bottom", "right"): 0.0}


def quadrant_map(height: int, width: int) -> np.ndarray:
    alpha_map = np.empty((height, width), np.float32)
    rows = {"top": slice(0, height // 2), "bottom": slice(height // 2, height)}
    cols = {"left": slice(0, width // 2), "right": slice(width // 2, width)}
    for (row, col), alpha in QUADRANTS.items():
        alpha_map[rows[row], cols[col]] = alpha
    return alpha_map


@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize(
    ("arch", "hparams"), [("unet", UNET), ("srnet", {"width": 4, "blocks": 1, "scale": 2, "p": 2})], ids=["x1", "x2"]
)
def test_each_region_of_an_asymmetric_map_gets_its_own_alpha(
    tmp_path: Path, mode: str, arch: str, hparams: dict
) -> None:
    """Away from the quadrant edges (the receptive radius plus the coarse level's resampling),
    the output is the uniform output at that quadrant's alpha, at the model's scale."""
    restorer = load(save(tmp_path, arch=arch, hparams=hparams), device="cpu")
    height, width = 80, 96
    image = photo(height, width)
    out = restorer.run(image, alpha_map=quadrant_map(height, width), alpha_map_mode=mode, tile=0)
    s = restorer.scale
    assert out.shape == (height * s, width * s, 3)
    uniform = {alpha: restorer.run(image, alpha=alpha, tile=0) for alpha in set(QUADRANTS.values())}
    reach = restorer.model.tiling.receptive_radius + 4
    rows = {"top": slice(0, (height // 2 - reach) * s), "bottom": slice((height // 2 + reach) * s, height * s)}
    cols = {"left": slice(0, (width // 2 - reach) * s), "right": slice((width // 2 + reach) * s, width * s)}
    for (row, col), alpha in QUADRANTS.items():
        region = (rows[row], cols[col])
        np.testing.assert_allclose(out[region], uniform[alpha][region], atol=1e-5, err_msg=f"{row} {col}")
        for other, result in uniform.items():  # the check has teeth: another alpha is far off here
            if other != alpha:
                assert np.abs(result[region] - uniform[alpha][region]).max() > 1e-3


def _image(pixels: np.ndarray):
    from tunecli.imageio import Image, ImageMeta

    return Image(pixels=pixels, alpha=None, meta=ImageMeta(format="png", dtype="uint8", mode="RGB"))
