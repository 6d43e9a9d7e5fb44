"""A restore keeps what the input file said about its colours: 16-bit samples and the ICC profile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageCms
from typer.testing import Result

from tunecli.api import load
from tunecli.imageio import Image, ImageMeta, float_to_samples, read_image, samples_to_float, write_image

RunCli = Callable[..., Result]
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def profiled_16_bit(path: Path, fmt: str) -> Path:
    """A random 16-bit RGB image (levels an 8-bit file cannot hold) tagged with an sRGB profile."""
    samples = np.random.default_rng(0).integers(0, 65536, size=(12, 17, 3), dtype=np.uint16)
    meta = ImageMeta(format=fmt, dtype="uint16", mode="RGB", icc_profile=SRGB_ICC)
    write_image(path, Image(pixels=samples_to_float(samples), alpha=None, meta=meta))
    return path


@pytest.mark.parametrize(("fmt", "suffix"), [("png", ".png"), ("tiff", ".tif")])
def test_a_profiled_16_bit_input_keeps_its_depth_and_profile(
    run_cli: RunCli, model: Path, tmp_path: Path, fmt: str, suffix: str
) -> None:
    source = profiled_16_bit(tmp_path / f"scan{suffix}", fmt)
    assert read_image(source).meta.icc_profile == SRGB_ICC  # the input really carries it
    target = tmp_path / f"clean{suffix}"
    result = run_cli("denoise", "--model", model, "--alpha", "0.3", source, "-o", target)
    assert result.exit_code == 0, result.output
    back = read_image(target)
    assert back.meta.format == fmt and back.meta.dtype == "uint16" and back.meta.mode == "RGB"
    assert back.meta.icc_profile == SRGB_ICC
    written = float_to_samples(back.pixels, "uint16")
    expected = float_to_samples(load(model, device="cpu").run(source, alpha=0.3).pixels, "uint16")
    assert np.array_equal(written, expected)
    assert np.any(written % 257)  # 16-bit levels, not 8-bit ones widened
