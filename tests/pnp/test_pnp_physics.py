"""The blur operator: convolution convention, adjoint, exact proximal step, the windowed data
step and its border handling (no ringing where a real image's surroundings are unknown)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

from tunecli.errors import UsageError
from tunecli.pnp.hqs import Schedule, hqs
from tunecli.pnp.physics import BlurOperator, fast_length

#: asymmetric, dominated by its centre tap: |K(f)| >= 0.2 everywhere, so its inverse is stable
SHAKE = np.zeros((5, 7), np.float32)
SHAKE[2, 3], SHAKE[0, 6], SHAKE[4, 1], SHAKE[1, 5] = 0.6, 0.25, 0.1, 0.05


def identity_prior(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x


def smooth_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A non-periodic ``(3, H, W)`` scene: smoothed noise on top of ramps in both directions."""
    rng = np.random.default_rng(seed)
    texture = np.stack([ndimage.gaussian_filter(plane, 2.0) for plane in rng.random((3, height, width))])
    ramps = np.linspace(0, 1, width)[None, None, :] + np.linspace(0, 0.5, height)[None, :, None]
    return (3 * texture + ramps).astype(np.float32)


def valid_blur(scene: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The camera's view: the 'valid' part of the true convolution (scipy, independent of FFTs here)."""
    return np.stack([signal.fftconvolve(plane, kernel, mode="valid") for plane in scene]).astype(np.float32)


def window_of(scene: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The part of ``scene`` whose pixels the valid blur's samples are centred on."""
    kh, kw = kernel.shape
    top, left = kh - 1 - kh // 2, kw - 1 - kw // 2
    return scene[:, top : scene.shape[1] - (kh - 1 - top), left : scene.shape[2] - (kw - 1 - left)]


def border_distance(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    return np.minimum.reduce([rows, cols, height - 1 - rows, width - 1 - cols])


def restore_identity(observed: np.ndarray, kernel: np.ndarray, pad: int | None = None, steps: int = 30) -> np.ndarray:
    physics = BlurOperator(kernel, observed.shape[1], observed.shape[2], pad=pad)
    schedule = Schedule((1.0,) * steps, (1e-3,) * steps)
    return physics.crop(hqs(torch.from_numpy(observed), physics, identity_prior, schedule)).numpy()


def test_fast_length() -> None:
    assert [fast_length(n) for n in (1, 7, 11, 13, 97, 4062)] == [1, 8, 12, 15, 100, 4096]
    assert [fast_length(n, 16) for n in (1, 97, 6062)] == [16, 128, 6144]


@pytest.mark.parametrize("shape", [(5, 7), (4, 6), (1, 1)])
def test_forward_is_scipy_convolution_on_the_window(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    kernel = rng.random(shape).astype(np.float32)
    physics = BlurOperator(kernel, 20, 24)
    scene = rng.random((2, *physics.grid)).astype(np.float32)
    expected = np.stack([ndimage.convolve(plane, kernel, mode="wrap") for plane in scene])
    got = physics.forward(torch.from_numpy(scene)).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5)
    pad = physics.pad
    np.testing.assert_allclose(physics.observe(torch.from_numpy(scene)).numpy(), got[:, pad : pad + 20, pad : pad + 24])


def test_adjoint_is_the_transpose() -> None:
    physics = BlurOperator(SHAKE, 16, 18)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, *physics.grid, generator=gen), torch.randn(3, *physics.grid, generator=gen)
    assert float((physics.forward(a) * b).sum()) == pytest.approx(float((a * physics.adjoint(b)).sum()), rel=1e-4)


def test_prox_solves_its_normal_equations() -> None:
    physics = BlurOperator(SHAKE, 16, 18)
    gen = torch.Generator().manual_seed(1)
    z, target = torch.rand(3, *physics.grid, generator=gen), torch.rand(3, *physics.grid, generator=gen)
    rho = 0.05
    x = physics.prox(z, target, rho)
    # gradient of ½‖Kx − t‖² + ρ/2‖x − z‖² vanishes at the minimiser
    gradient = physics.adjoint(physics.forward(x) - target) + rho * (x - z)
    assert float(gradient.abs().max()) < 1e-4


def test_data_step_solves_the_windowed_problem() -> None:
    """The conjugate-gradient steps lower ½‖M(k ⊛ x) − y‖² + ρ/2‖x − z‖² until its gradient vanishes."""
    physics = BlurOperator(SHAKE, 30, 40)
    gen = torch.Generator().manual_seed(0)
    z, observed, rho = torch.rand(3, *physics.grid, generator=gen), torch.rand(3, 30, 40, generator=gen), 0.01
    pad = physics.pad

    def objective_and_gradient(x: torch.Tensor) -> tuple[float, float]:
        misfit = torch.zeros_like(x)
        misfit[:, pad : pad + 30, pad : pad + 40] = physics.observe(x) - observed
        value = 0.5 * float((misfit**2).sum()) + rho / 2 * float(((x - z) ** 2).sum())
        return value, float((physics.adjoint(misfit) + rho * (x - z)).abs().max())

    results = [objective_and_gradient(physics.data_step(z, observed, rho, iterations=n)) for n in (0, 1, 5, 50)]
    values = [value for value, _ in results]
    assert all(a >= b - 1e-5 for a, b in itertools.pairwise(values)) and values[0] > values[-1] + 0.1
    assert results[0][1] > 1e-3 and results[-1][1] < 1e-5
    periodic = BlurOperator(SHAKE, 30, 40, pad=0)
    target = torch.rand(3, 30, 40, generator=gen)
    torch.testing.assert_close(periodic.data_step(target, observed, rho), periodic.prox(target, observed, rho))


@pytest.mark.parametrize("width", [7, 9])
def test_data_step_converges_to_the_exact_solution_of_the_windowed_problem(width: int) -> None:
    """On a grid small enough to write ``KᵀMK + ρ`` out as a matrix, the conjugate gradients
    (run on half spectra) reach its exact solution: their inner products weigh every bin of the
    half spectrum right, the first and the last column included."""
    physics = BlurOperator(SHAKE, 6, width)
    gen = torch.Generator().manual_seed(3)
    z, observed, rho = torch.rand(1, *physics.grid, generator=gen), torch.rand(1, 6, width, generator=gen), 0.05
    size = physics.grid[0] * physics.grid[1]
    basis = torch.eye(size, dtype=torch.float32).reshape(size, *physics.grid)
    blur = physics.forward(basis).reshape(size, size).T.double()  # column j: k ⊛ e_j
    seen = torch.zeros(physics.grid, dtype=torch.bool)
    seen[physics.pad : physics.pad + 6, physics.pad : physics.pad + width] = True
    mask = seen.flatten().double()
    y = torch.zeros(physics.grid, dtype=torch.float64)
    y[seen] = observed[0].double().flatten()
    normal = blur.T @ (mask[:, None] * blur) + rho * torch.eye(size, dtype=torch.float64)
    exact = torch.linalg.solve(normal, blur.T @ (mask * y.flatten()) + rho * z[0].double().flatten())
    solved = physics.data_step(z, observed, rho, iterations=200)[0].double().flatten()
    assert float((solved - exact).abs().max()) < 1e-4


def test_each_conjugate_gradient_step_is_the_textbook_one() -> None:
    """The steps on half spectra are those of preconditioned conjugate gradients written out with
    the matrices ``KᵀMK + ρ`` and ``(KᵀK + ρ)⁻¹`` in float64: the same iterate after 1 and 2
    steps (a wrong weight of a spectrum's first or last column in the inner products is off by
    1e-3). Later steps of this ill-conditioned problem drift apart by float32 rounding alone."""
    physics = BlurOperator(SHAKE, 20, 25)
    gen = torch.Generator().manual_seed(5)
    z, observed, rho = torch.rand(1, *physics.grid, generator=gen), torch.rand(1, 20, 25, generator=gen), 0.02
    size = physics.grid[0] * physics.grid[1]
    blur = physics.forward(torch.eye(size).reshape(size, *physics.grid)).reshape(size, size).T.double()
    seen = torch.zeros(physics.grid, dtype=torch.bool)
    seen[physics.pad : physics.pad + 20, physics.pad : physics.pad + 25] = True
    mask = seen.flatten().double()
    y = torch.zeros(physics.grid, dtype=torch.float64)
    y[seen] = observed[0].double().flatten()
    identity = torch.eye(size, dtype=torch.float64)
    normal = blur.T @ (mask[:, None] * blur) + rho * identity
    precondition = torch.linalg.inv(blur.T @ blur + rho * identity)
    x = physics.data_step(z, observed, rho, iterations=0)[0].double().flatten()
    residual = blur.T @ (mask * y.flatten()) + rho * z[0].double().flatten() - normal @ x
    step = precondition @ residual
    direction, product = step.clone(), float(residual @ step)
    for count in (1, 2):
        curved = normal @ direction
        length = product / float(direction @ curved)
        x, residual = x + length * direction, residual - length * curved
        step = precondition @ residual
        updated = float(residual @ step)
        direction, product = step + (updated / product) * direction, updated
        ours = physics.data_step(z, observed, rho, iterations=count)[0].double().flatten()
        assert float((ours - x).abs().max()) < 2e-4


def test_known_kernel_is_recovered_with_a_trivial_prior() -> None:
    scene = smooth_scene(52, 70)
    observed = valid_blur(scene, SHAKE)
    noisy = observed + np.random.default_rng(2).normal(0, 1e-3, observed.shape).astype(np.float32)
    truth = window_of(scene, SHAKE)
    restored = restore_identity(noisy, SHAKE)
    interior = border_distance(*truth.shape[1:]) >= 12
    error = np.abs(restored - truth).mean(axis=0)
    blurred = np.abs(noisy - truth).mean(axis=0)[interior].mean()
    assert error[interior].mean() < 0.003 and blurred > 0.02
    assert error[interior].mean() < blurred / 10


def test_flipped_kernel_fails_to_recover() -> None:
    """An operator that correlated instead of convolving would restore with the flipped kernel."""
    scene = smooth_scene(52, 70, seed=3)
    observed = valid_blur(scene, SHAKE)
    truth = window_of(scene, SHAKE)
    interior = border_distance(*truth.shape[1:]) >= 12
    right = np.abs(restore_identity(observed, SHAKE) - truth).mean(axis=0)[interior].mean()
    flipped = np.abs(restore_identity(observed, SHAKE[::-1, ::-1].copy()) - truth).mean(axis=0)[interior].mean()
    assert right < 0.005 and flipped > 20 * right


def test_no_ringing_from_the_unknown_border() -> None:
    """Beyond the kernel's reach of the border the error falls to the interior's; a periodic
    model of the same non-periodic image rings from its borders into the whole image."""
    scene = smooth_scene(64, 80, seed=4)
    observed = valid_blur(scene, SHAKE)
    truth = window_of(scene, SHAKE)
    distance = border_distance(*truth.shape[1:])

    def band_errors(pad: int | None) -> list[float]:
        error = np.abs(restore_identity(observed, SHAKE, pad=pad) - truth).mean(axis=0)
        return [float(error[(distance >= a) & (distance < b)].mean()) for a, b in ((0, 3), (3, 12), (12, 99))]

    windowed, periodic = band_errors(None), band_errors(0)
    assert windowed[2] < 0.002
    assert all(w < p / 5 for w, p in zip(windowed, periodic, strict=True))
    assert windowed[1] < 0.01 < periodic[1]


def test_extend_keeps_the_window_and_is_continuous_across_the_seam() -> None:
    scene = smooth_scene(30, 40)
    physics = BlurOperator(SHAKE, 30, 40, pad=9)
    extended = physics.extend(torch.from_numpy(scene))
    np.testing.assert_array_equal(physics.crop(extended).numpy(), scene)
    # the largest step between neighbours on the periodic grid (wrap included) stays image-like
    steps = max(float((extended - torch.roll(extended, 1, dims=d)).abs().max()) for d in (1, 2))
    inside = max(float(np.abs(np.diff(scene, axis=d)).max()) for d in (1, 2))
    assert steps <= 1.5 * inside


def test_bad_kernels_and_pads_are_refused() -> None:
    with pytest.raises(UsageError, match="non-empty 2-D"):
        BlurOperator(np.ones(3, np.float32), 8, 8)
    with pytest.raises(UsageError, match="non-negative and have a positive sum"):
        BlurOperator(-np.ones((3, 3), np.float32), 8, 8)
    with pytest.raises(UsageError, match="narrower than the 7x7 kernel's radius 3"):
        BlurOperator(np.ones((7, 7), np.float32), 8, 8, pad=2)
    with pytest.raises(UsageError, match="positive rho"):
        physics = BlurOperator(SHAKE, 8, 8)
        physics.prox(torch.zeros(1, *physics.grid), torch.zeros(1, *physics.grid), 0.0)
