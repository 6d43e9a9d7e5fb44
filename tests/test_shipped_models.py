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

SHIPPED = {info.name: info for info in shipped_models()}
DENOISER = default_models()["denoise"]
needs_denoiser = pytest.mark.skipif(DENOISER not in SHIPPED, reason=f"{DENOISER} is not shipped in weights/")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_records_its_training(name: str) -> None:
    training = SHIPPED[name].meta["training"]
    assert training["command"].startswith("tunecli train ")
    assert all(c.startswith("tunecli train ") for c in training["commands"])
    assert len(training["data_manifest_sha256"]) == 64
    assert training["steps"] > 1000
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
