"""The noise-level estimator: accuracy on seeded AWGN against scikit-image's wavelet-MAD
estimate, clipping, shared-channel noise, a clean image, determinism and input checks; and two
of its parts: the clipped-variance model solved for σ, and the box sums.

Bounds (the estimator's docstring quotes them): on 256-px crops of scikit-image's astronaut,
camera and chelsea with seeded AWGN, float and 8-bit clipped, |error| ≤ 1.0 at σ ≤ 30 and
≤ 2.0 at σ 50 (measured: at most 0.6 and 1.6). scikit-image's ``estimate_sigma`` misses by up
to 3.5 at σ 30 and 9 at σ 50 on the same images (it ignores the clipping).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunecli.estimation import noise
from tunecli.estimation.noise import estimate_noise_sigma

skimage_data = pytest.importorskip("skimage.data")
skimage_restoration = pytest.importorskip("skimage.restoration")
pytest.importorskip("pywt", reason="scikit-image's estimate_sigma needs PyWavelets")

SIGMAS = (5.0, 15.0, 30.0, 50.0)
IMAGES = ("astronaut", "camera", "chelsea")  # colour, gray, colour


def crop(name: str, side: int = 256) -> np.ndarray:
    """The centred ``side``-px square of a scikit-image sample, float64 in [0, 1]."""
    image = getattr(skimage_data, name)().astype(np.float64) / 255
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[top : top + side, left : left + side]


def noisy(clean: np.ndarray, sigma: float, seed: int, clipped: bool) -> np.ndarray:
    """``clean`` + AWGN of ``sigma`` (0–255 scale); ``clipped``: saved to 8 bits as a PNG would be."""
    out = clean + np.random.default_rng([seed, round(sigma)]).standard_normal(clean.shape) * sigma / 255
    return np.round(np.clip(out, 0, 1) * 255) / 255 if clipped else out


def wavelet_mad(image: np.ndarray) -> float:
    """scikit-image's estimate (finest diagonal wavelet band, median absolute deviation), 0–255."""
    channel_axis = -1 if image.ndim == 3 else None
    return 255 * float(skimage_restoration.estimate_sigma(image, channel_axis=channel_axis, average_sigmas=True))


@pytest.fixture(scope="module")
def errors() -> dict[tuple[str, float, bool], tuple[float, float]]:
    """(image, σ, clipped) → (our error, scikit-image's error), one seeded noise per case."""
    table = {}
    for index, name in enumerate(IMAGES):
        clean = crop(name)
        for sigma in SIGMAS:
            for clipped in (False, True):
                image = noisy(clean, sigma, index, clipped)
                table[name, sigma, clipped] = (estimate_noise_sigma(image) - sigma, wavelet_mad(image) - sigma)
    return table


@pytest.mark.parametrize("clipped", [False, True], ids=["float", "8bit"])
@pytest.mark.parametrize("sigma", SIGMAS)
def test_error_is_within_the_documented_bound(
    errors: dict[tuple[str, float, bool], tuple[float, float]], sigma: float, clipped: bool
) -> None:
    bound = 1.0 if sigma <= 30 else 2.0
    for name in IMAGES:
        ours, _ = errors[name, sigma, clipped]
        assert abs(ours) <= bound, f"{name} σ {sigma:g}: estimated {sigma + ours:.2f}"


@pytest.mark.parametrize("clipped", [False, True], ids=["float", "8bit"])
def test_beats_the_wavelet_mad_estimate_on_average(
    errors: dict[tuple[str, float, bool], tuple[float, float]], clipped: bool
) -> None:
    cases = [errors[key] for key in errors if key[2] == clipped]
    ours = np.mean([abs(e) for e, _ in cases])
    baseline = np.mean([abs(e) for _, e in cases])
    assert ours < 0.6 * baseline, f"mean |error| {ours:.2f} vs scikit-image {baseline:.2f}"


def test_clipping_is_undone_where_the_signal_is_dark() -> None:
    """A dark ramp under heavy noise, saved to 8 bits: one sample in seven clipped at 0."""
    ramp = np.tile(np.linspace(0.05, 0.6, 256), (256, 1))
    image = noisy(ramp, 40.0, 7, clipped=True)
    assert (image == 0).mean() > 0.07
    assert abs(estimate_noise_sigma(image) - 40.0) <= 1.0
    assert wavelet_mad(image) < 38.0  # what ignoring the clipping gives (36.7)


@pytest.mark.parametrize("name", IMAGES)
def test_a_clean_image_reads_low(name: str) -> None:
    assert estimate_noise_sigma(crop(name)) < 1.5


def test_noise_shared_by_the_channels_reads_as_its_per_channel_level() -> None:
    """Gray noise on a colour image (all channels get the same draw): colour patches see no noise
    in their chroma directions, so the single-channel estimate answers."""
    clean = crop("chelsea")
    shared = np.random.default_rng(3).standard_normal(clean.shape[:2])[:, :, None] * 20.0 / 255
    assert abs(estimate_noise_sigma(clean + shared) - 20.0) <= 1.0


def test_large_images_are_read_through_regions() -> None:
    """Past 2 × 512² pixels the estimate comes from a grid of 512-px regions."""
    ramp = np.tile(np.linspace(0.2, 0.8, 900), (700, 1))
    image = ramp + np.random.default_rng(5).standard_normal(ramp.shape) * 12.0 / 255
    assert abs(estimate_noise_sigma(image) - 12.0) <= 0.3


def test_deterministic_and_layout_independent() -> None:
    image = noisy(crop("astronaut", 128), 15.0, 1, clipped=True)
    first = estimate_noise_sigma(image)
    assert estimate_noise_sigma(image.copy()) == first
    assert estimate_noise_sigma(np.asfortranarray(image)) == pytest.approx(first, abs=1e-9)
    assert estimate_noise_sigma(image.astype(np.float32)) == pytest.approx(first, abs=1e-3)


def test_gray_as_two_or_three_dimensions_agree() -> None:
    image = noisy(crop("camera", 128), 10.0, 2, clipped=False)
    assert estimate_noise_sigma(image) == estimate_noise_sigma(image[:, :, None])


def test_constant_image_reads_zero() -> None:
    assert estimate_noise_sigma(np.full((40, 40, 3), 0.5)) == 0.0
    assert estimate_noise_sigma(np.zeros((40, 40))) == 0.0


def test_small_images_use_smaller_patches() -> None:
    image = np.random.default_rng(0).standard_normal((12, 12)) * 10.0 / 255 + 0.5
    assert 5.0 < estimate_noise_sigma(image) < 15.0  # 3x3 patches: a rough but sane estimate


@pytest.mark.parametrize(
    "image,message",
    [
        (np.zeros((4, 4, 4, 1)), "expected an"),
        (np.zeros((32, 32), dtype=np.uint8), "float samples"),
        (np.full((32, 32), np.nan), "NaN"),
        (np.zeros((6, 6)), "too small"),
    ],
    ids=["4d", "uint8", "nan", "tiny"],
)
def test_bad_inputs_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_noise_sigma(image)


def test_the_shortcuts_of_the_fast_path_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gradient energies read off maps or computed from the patches, and the sums updated by
    the patches that joined or left the selection or summed afresh, give the same estimate."""
    import tunecli.estimation.noise as noise

    image = noisy(crop("chelsea"), 25.0, 7, clipped=True)
    fast = estimate_noise_sigma(image)
    monkeypatch.setattr(noise, "DENSE_STEP", 0)  # every lattice computes the energies from its patches
    assert estimate_noise_sigma(image) == pytest.approx(fast, abs=1e-6)
    monkeypatch.setattr(noise._PatchSet, "_additive", lambda self, name, selected, compute: compute(selected))
    assert estimate_noise_sigma(image) == pytest.approx(fast, abs=1e-6)


def test_the_sums_are_the_same_on_one_thread_or_two() -> None:
    """The blocks of a sum are cut the same way whatever the threads, and added in their order:
    the estimate on one thread equals the one on two exactly, for a large and a small image
    (the inline path of a few patches included)."""
    from concurrent.futures import ThreadPoolExecutor

    import tunecli.estimation.noise as noise

    for image in (noisy(crop("astronaut"), 15.0, 3, clipped=True), noisy(crop("camera", 64), 30.0, 5, clipped=False)):
        with ThreadPoolExecutor(2) as pool:
            assert noise._estimate(image, pool) == noise._estimate(image, None)


@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.3])
def test_the_clipped_variance_model_is_solved_for_sigma(sigma: float) -> None:
    """σ → the clipped-normal variance at mostly dark levels (much clipping) → σ again."""
    import tunecli.estimation.noise as noise

    levels = (np.arange(256) + 0.5) / 256
    weights = np.exp(-((levels - 0.1) ** 2) / 0.02)
    weights /= weights.sum()
    measured = noise._clipped_variance(levels, weights, sigma)
    if sigma >= 0.1:
        assert measured < 0.9 * sigma**2  # a case of real clipping
    assert noise._unclipped_sigma(measured, levels, weights) == pytest.approx(sigma, rel=1e-6)


@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.3])
@pytest.mark.parametrize("guess_ratio", [0.5, 0.97, 1.0, 1.015, 1.3, 3.0])
def test_a_guess_of_the_root_gives_the_same_sigma(sigma: float, guess_ratio: float) -> None:
    """The iteration passes the last ratio of σ to √measured as a guess: near or far, above or
    below the root, the solve ends at the same σ as without one (and at the floor where nothing
    is clipped)."""
    import tunecli.estimation.noise as noise

    levels = (np.arange(256) + 0.5) / 256
    weights = np.exp(-((levels - 0.1) ** 2) / 0.02)
    weights /= weights.sum()
    measured = noise._clipped_variance(levels, weights, sigma)
    cold = noise._unclipped_sigma(measured, levels, weights)
    warm = noise._unclipped_sigma(measured, levels, weights, guess=guess_ratio * cold)
    assert warm == pytest.approx(cold, rel=1e-6)
    assert warm == pytest.approx(sigma, rel=1e-6)
    middle = np.zeros(256)
    middle[128] = 1.0  # all at mid-grey: a small σ is not clipped at all
    small = noise._clipped_variance(levels, middle, 0.01)
    assert noise._unclipped_sigma(small, levels, middle, guess=guess_ratio * 0.01) == pytest.approx(math.sqrt(small))


@pytest.mark.parametrize("height,width", [(7, 6), (6, 7), (3, 3), (1, 1), (5, 4), (2, 8), (9, 1), (16, 15)])
def test_box_sums_match_the_windows(height: int, width: int) -> None:
    import tunecli.estimation.noise as noise

    plane = np.random.default_rng(4).random((40, 30))
    windows = np.lib.stride_tricks.sliding_window_view(plane, (height, width)).sum(axis=(2, 3))
    np.testing.assert_allclose(noise._box_sum(plane, height, width), windows, rtol=1e-12)


def test_torch_threads_are_left_as_they_were_also_after_an_error() -> None:
    """The estimate keeps torch out of its sums and never changes its thread count (a batch runs
    the model on torch's threads while it estimates the next image)."""
    import torch

    before = torch.get_num_threads()
    estimate_noise_sigma(noisy(crop("astronaut", 64), 15.0, seed=3, clipped=False))
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="too small"):
        estimate_noise_sigma(np.zeros((2, 2, 3)))
    assert torch.get_num_threads() == before


def test_the_blas_limit_is_set_once_and_set_back_when_the_last_overlapping_estimate_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Estimates that overlap (a batch estimates on background threads) share one limit: set by
    the first, set back by the last, so none restores what another still needs."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    events: list[str] = []

    class Limit:
        def __init__(self, limits: int, user_api: str) -> None:
            events.append(f"set {limits} {user_api}")

        def restore_original_limits(self) -> None:
            events.append("restore")

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", Limit)
    guard = noise._OneBlasThread()
    with guard:
        with guard:
            events.append("both inside")
        events.append("one left")
    assert events == ["set 1 blas", "both inside", "one left", "restore"]


def test_overlapping_estimates_agree_and_leave_blas_threads_as_they_were() -> None:
    from concurrent.futures import ThreadPoolExecutor

    import torch  # noqa: F401 - the estimate imports it: its libraries are loaded from here on

    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> list[int]:
        return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]

    image = noisy(crop("astronaut", 64), 15.0, seed=3, clipped=False)
    alone = estimate_noise_sigma(image)
    before = blas_threads()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(estimate_noise_sigma, [image] * 8))
    assert results == pytest.approx([alone] * 8, rel=1e-12)  # BLAS threads may differ by thread
    assert blas_threads() == before


class _Cycling(noise._PatchSet):
    """Four patches whose σ alternates between 0.5 and 0.6: a 2-cycle of selections (2 and 3 patches)."""

    def __init__(self) -> None:  # no image: only what :meth:`estimate` reads
        self.texture = np.array([0.1, 0.2, 0.3, 0.4])
        self.threshold, self.clipped, self.calls = 1.0, False, 0

    def enough(self, selected: np.ndarray) -> bool:
        return True

    def sigma(self, selected: np.ndarray) -> float:
        self.calls += 1
        return 0.6 if int(selected.sum()) == 2 else 0.5


@pytest.mark.parametrize("start", [0.5, 0.6])
def test_a_two_cycle_stops_early_with_the_value_of_the_last_iteration(start: float) -> None:
    """Every iteration run out (the loop without the shortcut) ends on the same σ as the shortcut."""
    full = _Cycling()
    sigma = start
    for _ in range(noise.MAX_ITERATIONS):
        sigma = full.sigma(full.texture < full.threshold * sigma**2)
    cycling = _Cycling()
    assert cycling.estimate(start=start) == sigma
    assert cycling.calls == 2 < full.calls == noise.MAX_ITERATIONS
