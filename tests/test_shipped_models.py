"""The shipped models in weights/: provenance recorded, and the denoiser really denoises.

Skipped when no model is shipped (a fresh architecture has nothing trained yet).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from tunecli.api import load
from tunecli.cli import app
from tunecli.degradations.noise import seeded_awgn
from tunecli.evaluation.metrics import psnr
from tunecli.imageio import Image, ImageMeta, read_image, write_image
from tunecli.models import shipped_models
from tunecli.tasks import default_models, denoise

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {info.name: info for info in shipped_models()}
DENOISER = default_models()["denoise"]
needs_denoiser = pytest.mark.skipif(DENOISER not in SHIPPED, reason=f"{DENOISER} is not shipped in weights/")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_records_its_training(name: str) -> None:
    training = SHIPPED[name].meta["training"]
    assert training["command"].startswith("tunecli train ")
    assert all(c.startswith("tunecli train ") for c in training["commands"])
    assert len(training["data_manifest_sha256"]) == 64
    assert (training.get("total_steps") or training["steps"]) > 1000  # a warm start counts its source
    assert SHIPPED[name].meta["license"]


@pytest.fixture(scope="module")
def cat() -> tuple[np.ndarray, np.ndarray]:
    """A 128×160 crop of scikit-image's CC0 "Chelsea" and its seeded σ = 25 8-bit noisy version."""
    clean = data.chelsea()[80:208, 120:280].astype(np.float32) / 255.0
    return clean, seeded_awgn(clean, 25.0, seed=1, index=0, quantized=True)


DENOISERS = sorted(name for name, info in SHIPPED.items() if info.meta["task"] == "denoise")


@pytest.mark.parametrize("name", DENOISERS)
def test_denoiser_improves_psnr_and_alpha_is_monotonic(name: str, cat: tuple[np.ndarray, np.ndarray]) -> None:
    clean, noisy = cat
    restorer = load(name, device="cpu")
    matching = denoise.alpha_of_sigma(25.0)
    restored = restorer.run(noisy, alpha=matching, tile=0)
    assert psnr(restored, clean) > psnr(noisy, clean) + 6.0
    # more alpha never smooths less: the removed residual grows with alpha
    residuals = [
        float(np.sqrt(np.mean((restorer.run(noisy, alpha=a, tile=0) - noisy) ** 2))) for a in np.linspace(0, 1, 6)
    ]
    assert all(b > a for a, b in itertools.pairwise(residuals)), residuals


@needs_denoiser
def test_cli_denoise_on_a_noisy_photo(tmp_path: Path, cat: tuple[np.ndarray, np.ndarray]) -> None:
    clean, noisy = cat
    meta = ImageMeta(format="png", dtype="uint8", mode="RGB", icc_profile=None, exif=None, notices=[], extra={})
    source = tmp_path / "cat.png"
    write_image(source, Image(pixels=noisy, alpha=None, meta=meta))
    result = CliRunner().invoke(app, ["denoise", "--alpha", "0.44", str(source)])
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "cat_denoise_a0.44.png")
    assert out.meta.dtype == "uint8" and out.pixels.shape == noisy.shape
    assert psnr(out.pixels, clean) > psnr(read_image(source).pixels, clean) + 6.0


UPSCALERS = sorted(name for name, info in SHIPPED.items() if info.meta["task"] == "upscale")


@pytest.mark.parametrize("name", UPSCALERS)
def test_upscaler_beats_bicubic_at_alpha_0_and_takes_every_image_kind(name: str) -> None:
    """On a CC0 crop (scikit-image's Chelsea) downscaled as training downscales: alpha 0 is
    clearly above bicubic in PSNR-Y; gray, RGBA and 16-bit arrays come back scale× larger in
    their own layout and dtype."""
    import torch

    from tunecli.degradations.resize import downscale_array, upscale_bicubic
    from tunecli.evaluation.metrics import psnr_y

    restorer = load(name, device="cpu")
    scale = restorer.scale
    high = data.chelsea()[64:256, 96:288].astype(np.float32) / 255.0
    low = downscale_array(high, scale)
    bicubic = upscale_bicubic(torch.from_numpy(low.transpose(2, 0, 1).copy())[None], scale)[0].permute(1, 2, 0).numpy()
    fidelity = restorer.run(low, alpha=0.0, tile=0)
    assert fidelity.shape == high.shape
    # fur is hard: +0.41 dB over bicubic here for upscale-x4 (+2.4 dB on Set5, README)
    assert psnr_y(fidelity, high, border=scale) > psnr_y(bicubic, high, border=scale) + 0.25
    gray = (low.mean(axis=2) * 255).astype(np.uint8)
    assert restorer.run(gray, alpha=0.5).shape == (gray.shape[0] * scale, gray.shape[1] * scale)
    rgba = np.concatenate([low, np.full((*low.shape[:2], 1), 0.5, np.float32)], axis=2)
    out = restorer.run(rgba, alpha=0.5)
    assert out.shape == (low.shape[0] * scale, low.shape[1] * scale, 4)
    assert np.allclose(out[..., 3], 0.5, atol=1e-3)
    deep = (low * 65535).astype(np.uint16)
    assert restorer.run(deep, alpha=1.0).dtype == np.uint16


@pytest.mark.parametrize("name", UPSCALERS)
def test_upscaler_alpha_trades_fidelity_for_texture_monotonically(name: str) -> None:
    """Along alpha 0 → 0.5 → 1 the output moves away from the original (PSNR-Y falls) and its
    edges get crisper (the 99th percentile of Y's Sobel gradient magnitude rises: the teacher's
    look), the trade the knob promises; NIQE, the README's measure, needs larger images than a
    test should run."""
    from scipy.ndimage import sobel

    from tunecli.degradations.resize import downscale_array
    from tunecli.evaluation.metrics import psnr_y

    restorer = load(name, device="cpu")
    scale = restorer.scale
    high = data.chelsea()[64:256, 96:288].astype(np.float32) / 255.0
    low = downscale_array(high, scale)
    outs = [np.clip(restorer.run(low, alpha=a, tile=0), 0, 1) for a in (0.0, 0.5, 1.0)]
    fidelity = [psnr_y(out, high, border=scale) for out in outs]
    lumas = [out @ np.array([0.299, 0.587, 0.114], np.float32) for out in outs]
    edges = [float(np.percentile(np.hypot(sobel(y, 0), sobel(y, 1)), 99)) for y in lumas]
    assert all(b < a for a, b in itertools.pairwise(fidelity)), fidelity
    assert all(b > a for a, b in itertools.pairwise(edges)), edges


def card(name: str) -> str:
    """``tunecli models NAME`` as a pipe gets it (plain text)."""
    result = CliRunner().invoke(app, ["models", name])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_card_lists_its_measured_results_and_how_they_were_measured(name: str) -> None:
    """Re-shipping a model (a new file) without measuring it leaves its card without numbers:
    this fails until the task's ``measured`` table has the new file's results."""
    rows = [line.split(maxsplit=1) for line in card(name).splitlines() if line.startswith("measured.")]
    fields = {field for field, _ in rows}
    assert len(fields - {"measured.command", "measured.results"}) >= 2, rows
    commands = [value for field, value in rows if field == "measured.command"]
    assert commands and commands[0].startswith("python bench/") and "DATA_DIR" in commands[0]
    results = [value for field, value in rows if field == "measured.results"]
    assert results and all((ROOT / path).is_file() for path in results)


@pytest.mark.skipif("style-mix" not in SHIPPED, reason="style-mix is not shipped in weights/")
def test_style_card_names_each_painting() -> None:
    text = " ".join(card("style-mix").split())
    for axis, painting in (
        ("starry", "The Starry Night, Vincent van Gogh, 1889"),
        ("scream", "The Scream, Edvard Munch, 1893"),
        ("wave", "The Great Wave off Kanagawa, Katsushika Hokusai, c. 1831"),
        ("kandinsky", "Composition VII, Wassily Kandinsky, 1913"),
    ):
        assert f"alpha.{axis} {painting}" in text
    assert "the style of" not in text


@pytest.mark.parametrize("name", sorted(n for n, info in SHIPPED.items() if info.meta["task"] == "upscale"))
def test_upscale_card_says_what_alpha_1_gives_as_measured(name: str) -> None:
    text = " ".join(card(name).split())
    assert "alpha.1 perceptual: crisper edges" in text and "grid" in text and "NIQE" in text and "(measured)" in text
    assert "as GAN upscalers give" not in text  # what the card promised before it was measured


def test_the_models_listing_in_a_pipe_is_short_plain_lines() -> None:
    result = CliRunner().invoke(app, ["models"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and max(len(line) for line in lines) <= 100
    assert len(lines) <= 5 * len(SHIPPED) + 1  # the table folded at 100 columns: 54 lines
    assert not any(char in result.stdout for char in "│┃━─")
