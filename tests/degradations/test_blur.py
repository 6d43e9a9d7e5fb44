"""Random blur kernels: normalisation, centring, seeding, strength mapping; per-sample blurring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from tunecli.degradations.blur import (
    _gaussian,
    blur,
    default_kernel_size,
    kernel_batch,
    kernel_spread,
    random_kernel,
    sigma_of_strength,
)
from tunecli.errors import UsageError


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _centroid(kernel: torch.Tensor) -> tuple[float, float]:
    k = kernel.double()
    idx = torch.arange(k.shape[0], dtype=torch.float64)
    return float((k.sum(1) * idx).sum() / k.sum()), float((k.sum(0) * idx).sum() / k.sum())


@pytest.mark.parametrize("strength", [0.0, 0.35, 1.0])
def test_kernels_are_normalised_centred_odd(strength: float) -> None:
    gen = _generator(1)
    for _ in range(9):
        k = random_kernel(strength, gen)
        size = default_kernel_size(strength)
        assert k.dtype == torch.float32
        assert k.shape == (size, size) and size % 2 == 1
        assert float(k.min()) >= 0.0
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
        row, col = _centroid(k)
        assert abs(row - size // 2) < 1e-4 and abs(col - size // 2) < 1e-4


def test_strength_zero_is_nearly_identity() -> None:
    gen = _generator(2)
    for _ in range(9):
        k = random_kernel(0.0, gen)
        assert float(k[k.shape[0] // 2, k.shape[1] // 2]) > 0.98
        assert kernel_spread(k) < 0.2


def test_seeded_reproducibility() -> None:
    first = [random_kernel(0.7, _generator(5)) for _ in range(2)]
    assert torch.equal(first[0], first[1])
    same = [random_kernel(0.7, g) for g in [_generator(5)] for _ in range(6)]
    again = [random_kernel(0.7, g) for g in [_generator(5)] for _ in range(6)]
    other = [random_kernel(0.7, g) for g in [_generator(6)] for _ in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(same, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(same, other, strict=True))


def test_spread_and_size_grow_with_strength() -> None:
    def mean_second_moment(strength: float) -> float:
        gen = _generator(0)
        return float(np.mean([kernel_spread(random_kernel(strength, gen)) ** 2 for _ in range(24)]))

    moments = [mean_second_moment(s) for s in (0.2, 0.6, 1.0)]
    assert moments[0] < moments[1] < moments[2]
    sizes = [default_kernel_size(float(s)) for s in np.linspace(0, 1, 21)]
    assert sizes == sorted(sizes) and sizes[0] == 7 and sizes[-1] == 33


def test_all_three_kinds_are_drawn() -> None:
    gen = _generator(3)
    kernels = [random_kernel(1.0, gen) for _ in range(30)]
    iso = _gaussian(33, 4.0, 4.0, 0.0)
    iso = (iso / iso.sum()).float()
    n_iso = sum(torch.allclose(k, iso, atol=1e-7) for k in kernels)

    def eigen_ratio(k: torch.Tensor) -> float:
        w = k.double() / k.sum()
        c = torch.arange(k.shape[0], dtype=torch.float64) - k.shape[0] // 2
        y, x = torch.meshgrid(c, c, indexing="ij")
        cov = torch.tensor([[(w * y * y).sum(), (w * x * y).sum()], [(w * x * y).sum(), (w * x * x).sum()]])
        ev = torch.linalg.eigvalsh(cov)
        return float(ev[0] / ev[1])

    # A sampled Gaussian of major sigma 4 has spread sqrt(2)*4 = 5.66 at most; a nearly straight
    # 25 px trajectory has up to 25/sqrt(12) = 7.2.
    n_long = sum(kernel_spread(k) > 6.0 for k in kernels)
    n_elongated = sum(eigen_ratio(k) < 0.8 for k in kernels)
    assert n_iso > 0 and n_long > 0 and n_elongated > n_long
    assert max(kernel_spread(k) for k in kernels) < 25 / 12**0.5 + 0.2


def test_gaussian_spread_matches_sigma() -> None:
    k = _gaussian(41, sigma_of_strength(0.5), sigma_of_strength(0.5), 0.0)
    assert kernel_spread(k) == pytest.approx(2**0.5 * 2.15, rel=1e-3)
    assert kernel_spread(np.pad([[1.0]], 2)) == 0.0
    assert kernel_spread(np.array([[1.0, 0.0, 1.0]])) == pytest.approx(1.0)


def test_size_pads_and_rejects() -> None:
    padded = random_kernel(0.5, _generator(4), size=25)
    natural = random_kernel(0.5, _generator(4))
    assert padded.shape == (25, 25)
    assert torch.equal(padded[2:-2, 2:-2], natural)
    assert float(padded.sum() - natural.sum()) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(UsageError, match="odd integer"):
        random_kernel(0.5, _generator(4), size=24)
    with pytest.raises(UsageError, match="too small for blur strength 1: use at least 33"):
        random_kernel(1.0, _generator(4), size=25)
    with pytest.raises(UsageError, match=r"in \[0, 1\]"):
        random_kernel(1.5, _generator(4))


def test_kernel_batch() -> None:
    strengths = torch.tensor([0.0, 0.4, 0.9])
    batch = kernel_batch(strengths, _generator(7), size=31)
    gen = _generator(7)
    expected = torch.stack([random_kernel(float(s), gen, 31) for s in strengths])
    assert batch.shape == (3, 31, 31) and batch.dtype == torch.float32
    assert torch.equal(batch, expected)
    assert kernel_batch(strengths, _generator(7)).shape == (3, default_kernel_size(0.9), default_kernel_size(0.9))
    assert kernel_batch(torch.zeros(0), _generator(7), size=9).shape == (0, 9, 9)
    with pytest.raises(UsageError, match="1-D tensor"):
        kernel_batch(torch.zeros(2, 2), _generator(7), size=9)


@pytest.mark.parametrize("boundary", ["reflect", "circular"])
def test_delta_kernel_is_identity(boundary: str) -> None:
    images = torch.rand(2, 3, 12, 10, generator=_generator(0))
    delta = torch.zeros(2, 5, 5)
    delta[:, 2, 2] = 1
    assert torch.equal(blur(images, delta, boundary), images)


def test_constant_image_stays_constant() -> None:
    images = torch.full((2, 1, 9, 11), 0.37, dtype=torch.float64)
    kernels = kernel_batch(torch.tensor([0.3, 0.3]), _generator(1))
    assert torch.allclose(blur(images, kernels), images, atol=1e-6)


@pytest.mark.parametrize(("boundary", "scipy_mode"), [("reflect", "mirror"), ("circular", "wrap")])
def test_matches_scipy_convolve(boundary: str, scipy_mode: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((14, 17))
    kernel = rng.random((7, 7))  # asymmetric: catches a missing flip
    kernel /= kernel.sum()
    out = blur(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None], boundary)[0, 0].numpy()
    np.testing.assert_allclose(out, ndimage.convolve(image, kernel, mode=scipy_mode), atol=1e-12)


def test_kernels_apply_to_their_own_sample() -> None:
    images = torch.rand(3, 2, 16, 16, generator=_generator(2))
    kernels = kernel_batch(torch.tensor([0.2, 0.5, 0.1]), _generator(3))
    out = blur(images, kernels)
    for i in range(3):
        assert torch.allclose(out[i : i + 1], blur(images[i : i + 1], kernels[i : i + 1]), atol=1e-6)
        swapped = blur(images[i : i + 1], kernels[(i + 1) % 3 : (i + 1) % 3 + 1])
        assert not torch.allclose(out[i : i + 1], swapped, atol=1e-3)
    assert blur(images[:0], kernels[:0]).shape == (0, 2, 16, 16)


def test_blur_rejects_bad_input() -> None:
    images = torch.rand(2, 1, 8, 8)
    kernels = torch.ones(2, 3, 3) / 9
    with pytest.raises(UsageError, match="one kernel per image: 2 images, 1 kernels"):
        blur(images, kernels[:1])
    with pytest.raises(UsageError, match="odd kernel size"):
        blur(images, torch.ones(2, 4, 4) / 16)
    with pytest.raises(UsageError, match="boundary must be one of reflect, circular"):
        blur(images, kernels, "zeros")
    with pytest.raises(UsageError, match="too small for 9x9 kernels with reflect"):
        blur(torch.rand(2, 1, 4, 8), torch.ones(2, 9, 9) / 81)
    with pytest.raises(UsageError, match=r"float images \(B, C, H, W\)"):
        blur(images[0], kernels)


def test_a_kernel_kind_can_be_chosen() -> None:
    from tunecli.degradations.blur import kernel_spread, random_kernel

    gaussian = random_kernel(0.5, torch.Generator().manual_seed(0), kind="gaussian")
    torch.testing.assert_close(gaussian, gaussian.T)  # isotropic
    motion = random_kernel(0.5, torch.Generator().manual_seed(0), kind="motion")
    again = random_kernel(0.5, torch.Generator().manual_seed(0), kind="motion")
    assert torch.equal(motion, again) and abs(float(motion.sum()) - 1) < 1e-5
    assert kernel_spread(motion) > 0
    with pytest.raises(UsageError, match="kernel kind must be one of gaussian, anisotropic, motion; got 'box'"):
        random_kernel(0.5, torch.Generator(), kind="box")
