"""The grid measure: ≈ 1 for errors without a period-2/4 pattern, far above for a checkerboard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunecli.degradations.resize import downscale_array, upscale_bicubic
from tunecli.evaluation.metrics import grid_measure

SIDE = 128


def natural_image(side: int, seed: int) -> np.ndarray:
    """A float32 RGB image in [0, 1] with a photo's 1/f amplitude spectrum and random phases."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(side)[:, None], np.fft.fftfreq(side)[None])
    amplitude = 1.0 / np.maximum(f, 1.0 / side)
    planes = []
    for _ in range(3):
        plane = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((side, side)))))
        planes.append((plane - plane.min()) / (plane.max() - plane.min()))
    return np.stack(planes, axis=-1).astype(np.float32)


def bicubic_upscale(high: np.ndarray, scale: int) -> np.ndarray:
    low = downscale_array(high, scale)
    batch = torch.from_numpy(low.transpose(2, 0, 1).copy())[None]
    return upscale_bicubic(batch, scale)[0].permute(1, 2, 0).numpy()


def checkerboard(side: int, period: int) -> np.ndarray:
    """±1 in squares of ``period // 2`` pixels: a period-``period`` pattern along both axes."""
    cells = np.arange(side) // (period // 2)
    return np.where((cells[:, None] + cells[None]) % 2 == 0, 1.0, -1.0)


def smooth_error(side: int) -> np.ndarray:
    """A noise-free smooth error: slow sinusoids off the DFT bins, a ramp and a Gaussian bump."""
    y, x = np.mgrid[0:side, 0:side] / side
    return (
        0.05 * np.sin(2 * np.pi * 1.7 * x)
        + 0.03 * np.cos(2 * np.pi * (2.3 * y + 0.6 * x))
        + 0.02 * (x - 0.4 * y)
        + 0.04 * np.exp(-((x - 0.3) ** 2 + (y - 0.6) ** 2) / 0.02)
    )


def blurred_noise(side: int, sigma: float, seed: int) -> np.ndarray:
    """White noise through a Gaussian of ``sigma`` pixels (circular, by the DFT)."""
    f2 = np.fft.fftfreq(side)[:, None] ** 2 + np.fft.fftfreq(side)[None] ** 2
    noise = np.random.default_rng(seed).standard_normal((side, side))
    return 0.02 * np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-2 * np.pi**2 * sigma**2 * f2)))


ZERO = np.zeros((SIDE, SIDE))


def test_white_noise_reads_about_one() -> None:
    values = [grid_measure(np.random.default_rng(seed).standard_normal((SIDE, SIDE)), ZERO) for seed in range(6)]
    assert 0.75 < np.mean(values) < 1.1
    assert max(values) < 1.3


def test_smooth_and_blurred_errors_read_at_most_about_one() -> None:
    assert grid_measure(smooth_error(SIDE), ZERO) < 1.1
    for seed in range(3):
        assert grid_measure(blurred_noise(SIDE, 1.0, seed), ZERO) < 1.2


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_upscale_reads_like_white_noise(scale: int) -> None:
    noise = np.mean([grid_measure(np.random.default_rng(s).standard_normal((SIDE, SIDE)), ZERO) for s in range(6)])
    for seed in range(3):
        high = natural_image(SIDE, seed)
        value = grid_measure(bicubic_upscale(high, scale), high, border=scale)
        assert value < 1.25
        assert abs(value - noise) < 0.3


@pytest.mark.parametrize("period", [2, 4])
@pytest.mark.parametrize("base", ["smooth", "blurred"])
def test_a_faint_checkerboard_on_a_smooth_error_rises_far_above(period: int, base: str) -> None:
    high = natural_image(SIDE, 7)
    error = smooth_error(SIDE) if base == "smooth" else blurred_noise(SIDE, 1.0, 7)
    clean = high + error[..., None]
    # 2/255 peak to peak: barely visible on a photo
    hatched = clean + (1 / 255) * checkerboard(SIDE, period)[..., None]
    before = grid_measure(clean, high)
    assert before < 1.2
    assert grid_measure(hatched, high) > 10 * before


@pytest.mark.parametrize("period", [2, 4])
def test_a_checkerboard_on_a_bicubic_upscale_rises_far_above(period: int) -> None:
    # this synthetic photo loses more to bicubic than real ones do (error std 16/255), and a
    # period-2 checkerboard is one lattice frequency of 15: 8/255 peak to peak on 256 px
    high = natural_image(2 * SIDE, 7)
    clean = bicubic_upscale(high, 4)
    before = grid_measure(clean, high, border=4)
    after = grid_measure(clean + (4 / 255) * checkerboard(2 * SIDE, period)[..., None], high, border=4)
    assert before < 1.2
    assert after > 4 * before


def test_stronger_checkerboard_reads_higher() -> None:
    high = natural_image(SIDE, 3)
    clean = bicubic_upscale(high, 4)
    values = [grid_measure(clean + a * checkerboard(SIDE, 4)[..., None], high, border=4) for a in (0.002, 0.01, 0.05)]
    assert values[0] < values[1] < values[2]


def test_scale_dtype_and_layout_do_not_change_the_value() -> None:
    high = natural_image(SIDE, 1)
    out = bicubic_upscale(high, 2)
    reference = grid_measure(out, high, border=2)
    assert grid_measure(out * 255.0, high * 255.0, border=2) == pytest.approx(reference, rel=1e-6)
    gray_out, gray_high = out[..., 0], high[..., 0]
    assert grid_measure(gray_out[..., None], gray_high[..., None]) == grid_measure(gray_out, gray_high)
    as_int = np.round(gray_high * 255).astype(np.int32)
    assert np.isfinite(grid_measure(as_int, np.zeros_like(as_int)))


def test_identical_images_read_one() -> None:
    high = natural_image(SIDE, 2)
    assert grid_measure(high, high) == pytest.approx(1.0)


def test_sizes_not_a_multiple_of_four_are_cropped() -> None:
    high = natural_image(SIDE, 4)[:101, :99]
    out = high + (1 / 255) * checkerboard(SIDE, 4)[:101, :99, None]
    assert grid_measure(out, high) == pytest.approx(grid_measure(out[:100, :96], high[:100, :96]))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros((64, 64)), np.zeros((64, 65)), {}, "equal shapes"),
        (np.zeros((64, 64, 2)), np.zeros((64, 64, 2)), {}, r"\(H, W, 3\)"),
        (np.zeros((60, 80)), np.zeros((60, 80)), {}, "at least 64x64 pixels, got 60x80"),
        (np.zeros((80, 80)), np.zeros((80, 80)), {"border": 9}, "at least 64x64 pixels, got 60x60"),
        (np.zeros((80, 80)), np.zeros((80, 80)), {"border": 40}, "leaves nothing"),
        (np.zeros((80, 80)), np.zeros((80, 80)), {"border": -1}, "non-negative integer"),
        (np.zeros((64, 64), dtype=bool), np.zeros((64, 64)), {}, "real numeric arrays, got bool for the output"),
        (np.zeros((64, 64)), np.zeros((64, 64), dtype=complex), {}, "got complex128 for the reference"),
        ([[0.0] * 64] * 64, np.zeros((64, 64)), {}, "got list for the output"),
        (np.full((64, 64), np.nan), np.zeros((64, 64)), {}, "finite"),
    ],
)
def test_bad_input_is_a_one_line_value_error(x: object, y: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        grid_measure(x, y, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
