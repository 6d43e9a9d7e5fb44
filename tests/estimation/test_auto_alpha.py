"""``--alpha auto`` without a model: the tasks' noise → alpha mappings, the rounding to the label's
precision, the note line, and the refusal for tasks that map no noise level."""

from __future__ import annotations

import numpy as np
import pytest

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.errors import AlphaError, InputImageError
from tunecli.estimation.auto_alpha import AutoAlpha, choose_alpha, is_auto
from tunecli.estimation.noise import estimate_noise_sigma
from tunecli.tasks import Task, get_task, list_tasks
from tunecli.tasks.deblur import alpha_space as deblur_space
from tunecli.tasks.denoise import alpha_of_sigma
from tunecli.tasks.denoise import alpha_space as denoise_space
from tunecli.tasks.upscale import alpha_space as upscale_space


def noisy_ramp(sigma: float, side: int = 96, seed: int = 0) -> np.ndarray:
    ramp = np.tile(np.linspace(0.2, 0.8, side, dtype=np.float32), (side, 1))[:, :, None].repeat(3, axis=2)
    return ramp + np.random.default_rng(seed).standard_normal(ramp.shape).astype(np.float32) * sigma / 255


@pytest.mark.parametrize("sigma,alpha", [(0.0, 0.0), (5.0, 0.0), (27.5, 0.5), (50.0, 1.0), (80.0, 1.0)])
def test_denoise_maps_sigma_to_its_matching_alpha(sigma: float, alpha: float) -> None:
    omega = get_task("denoise").alpha_for_noise(denoise_space(), sigma)
    assert omega == pytest.approx((1 - alpha, alpha))


def test_deblur_sets_the_noise_axis_and_keeps_the_default_blur() -> None:
    space = deblur_space()
    assert get_task("deblur").alpha_for_noise(space, 15.0) == pytest.approx((0.5, space.default[1]))
    assert get_task("deblur").alpha_for_noise(space, 45.0) == pytest.approx((1.0, space.default[1]))


def test_only_denoise_and_deblur_map_noise() -> None:
    assert [t.name for t in list_tasks() if t.maps_noise][:2] == ["denoise", "deblur"]
    assert not get_task("upscale").maps_noise and not get_task("style").maps_noise
    assert get_task("upscale").alpha_for_noise(upscale_space(), 25.0) is None
    assert Task().alpha_for_noise(denoise_space(), 25.0) is None


def test_a_task_refuses_a_space_it_does_not_map() -> None:
    box = AlphaSpace(2, "box", (AlphaAxis("a"), AlphaAxis("b")), (0.5, 0.5))
    assert get_task("denoise").alpha_for_noise(box, 25.0) is None  # not a p = 2 simplex
    assert get_task("deblur").alpha_for_noise(box, 25.0) is None  # no noise axis
    with pytest.raises(AlphaError, match="axes a, b, which the deblur task maps no noise level to"):
        get_task("deblur").check_auto(box, "odd-deblur")


def test_tasks_without_a_mapping_are_refused_naming_those_with_one() -> None:
    with pytest.raises(AlphaError) as caught:
        get_task("upscale").check_auto(upscale_space(), "upscale-x4")
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    assert "only denoise and deblur models" in message and "upscale-x4 is for upscale" in message


def test_choose_alpha_estimates_and_rounds_to_the_label() -> None:
    image = noisy_ramp(20.0)
    chosen = choose_alpha(image, get_task("denoise"), denoise_space())
    sigma = estimate_noise_sigma(image)
    assert chosen.sigma == sigma
    alpha = round(alpha_of_sigma(sigma), 2)
    assert chosen.omega == (pytest.approx(1 - alpha, abs=1e-9), alpha)
    assert denoise_space().label(chosen.omega) == f"a{alpha:.2f}"
    assert chosen.describe(denoise_space()) == f"noise sigma ≈ {sigma:.1f} → alpha {alpha:.2f}"
    assert chosen.to_json() == {"sigma": round(sigma, 2), "alpha": list(chosen.omega)}


def test_choose_alpha_for_a_box_describes_every_axis() -> None:
    chosen = choose_alpha(noisy_ramp(12.0), get_task("deblur"), deblur_space())
    noise = round(min(1.0, chosen.sigma / 30), 2)
    assert chosen.omega == (noise, 0.5)
    assert chosen.describe(deblur_space()).endswith(f"→ noise={noise:.2f} blur=0.50")


def test_an_image_too_small_to_estimate_is_an_input_error() -> None:
    with pytest.raises(InputImageError, match=r"tiny\.png: cannot estimate the noise level for --alpha auto"):
        choose_alpha(np.zeros((5, 5, 3), np.float32), get_task("denoise"), denoise_space(), "tiny.png")


@pytest.mark.parametrize("value,auto", [("auto", True), (" AUTO ", True), ("0.3", False), (0.3, False), (None, False)])
def test_is_auto(value: object, auto: bool) -> None:
    assert is_auto(value) is auto


def test_auto_alpha_is_a_value() -> None:
    assert AutoAlpha(10.0, (0.9, 0.1)) == AutoAlpha(10.0, (0.9, 0.1))
