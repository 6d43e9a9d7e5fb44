"""Non-blind deblurring with a known kernel: HQS with the tunable denoiser as the prior.

:func:`deblur_with_kernel` restores an image blurred by a known kernel (read with
:func:`load_kernel`) by :func:`tunecli.pnp.hqs.hqs`: the exact FFT data step of
:class:`tunecli.pnp.physics.BlurOperator` (the image's surroundings unknown, so no border
ringing) alternating with the denoiser (:class:`tunecli.pnp.prior.DenoiserPrior`) at a falling
noise level.

The noise level σn (0–255) of the blurred image weighs the data against the prior. Given, it is
used as is; ``None`` (``--alpha auto``) estimates it from the image itself
(:func:`tunecli.estimation.noise.estimate_noise_sigma`: the noise is added after the blur, so
it is white and the blur only adds flat patches to read it from).

Alpha, one knob: 0 keeps the most detail (and noise) … 1 smoothest. It sets how strongly the
prior pulls at the end of the schedule, as a factor on the noise level the iterations assume,
``σa = σn · STRENGTH_LOW · (STRENGTH_HIGH / STRENGTH_LOW)^alpha``: the schedule (DPIR's, see
:func:`tunecli.pnp.hqs.dpir_schedule`) falls from σ 49 to ``σa`` and weighs the data step by
``ρ_i = λ·σa²/σ_i²``. A larger σa both ends on a stronger denoiser and lets the prior's estimate
pull harder on each data step, so detail and residual noise fall monotonically with alpha.
:data:`DEFAULT_ALPHA` = 0.15 gives σa ≈ σn (1.01·σn), DPIR's own weighting; alpha 0 assumes
0.84·σn, 1 assumes 2.67·σn. Below about 0.8·σn the data step amplifies the noise faster than the
prior removes it (on the shipped sample: 32.5 dB at 0.84·σn, 27.8 dB at 0.77·σn, 24.1 dB at
0.71·σn, against 26.7 dB for the blurred input), so the knob's detail end stops at 0.84. ``bench/deblur_baselines.py`` measures the default against the best alpha.

The denoiser's range is σ 5–50: levels of the schedule below 5 run the denoiser at 5 (the data
weights keep the schedule's own σ); ``bench/deblur_baselines.py`` measures what that costs at
σn 2.55 against a prior whose residual is scaled below the floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from tunecli.degradations.kernel_files import read_kernels
from tunecli.errors import AlphaError, InputImageError, UsageError
from tunecli.estimation.noise import estimate_noise_sigma
from tunecli.pnp.hqs import ITERATIONS, LAMBDA, Schedule, dpir_schedule, hqs
from tunecli.pnp.physics import BlurOperator
from tunecli.pnp.prior import DenoiserPrior, Prior

if TYPE_CHECKING:
    from tunecli.api import Restorer, TileSpec

#: alpha at which σa = σn, DPIR's own weighting: the best of the factors 0.85–2.1 at σn 2.55,
#: 7.65 and 15 on a calibration run (2 Levin kernels, 3 photos outside the benchmark's).
DEFAULT_ALPHA = 0.15
#: The factor on the noise level that the schedule assumes, at alpha 0 and at alpha 1: 0.84 (the
#: detail end, see above) to 2.67, geometric in alpha and exactly 1 at :data:`DEFAULT_ALPHA`.
STRENGTH_LOW = 2**-0.25
STRENGTH_HIGH = STRENGTH_LOW ** (-(1 - DEFAULT_ALPHA) / DEFAULT_ALPHA)
#: What alpha means for a ``--kernel`` run (for ``tunecli models`` and the help).
ALPHA_MEANING = (
    "deblur --kernel: alpha 0 keeps the most detail (and noise) ... 1 smoothest; the HQS prior "
    f"assumes {STRENGTH_LOW:.2f}x (alpha 0) to {STRENGTH_HIGH:.2f}x (alpha 1) the noise level; "
    f"default {DEFAULT_ALPHA:g} (the noise level itself)"
)


def load_kernel(path: Path, index: int | None = None) -> np.ndarray:
    """The blur kernel in ``path`` (the formats of
    :func:`tunecli.degradations.kernel_files.read_kernels`), float32 2-D summing to 1.

    A file with several kernels needs ``index`` (0-based). Raises :class:`UsageError` with a
    one-line message naming the file (exit 2) for a bad file or index.
    """
    kernels = read_kernels(Path(path))
    if index is None:
        if len(kernels) > 1:
            raise UsageError(f"{path}: holds {len(kernels)} kernels; choose one (0 to {len(kernels) - 1})")
        index = 0
    if not 0 <= index < len(kernels):
        raise UsageError(f"{path}: no kernel {index}; it holds {len(kernels)} (0 to {len(kernels) - 1})")
    return kernels[index]


def assumed_noise(alpha: float, noise_sigma: float) -> float:
    """σa (0–255): the noise level the schedule assumes at ``alpha`` in [0, 1] for an image of
    noise level ``noise_sigma`` (see the module docstring). Raises :class:`AlphaError`."""
    if not 0.0 <= alpha <= 1.0:
        raise AlphaError(f"alpha for deblurring with a kernel must lie in [0, 1], not {alpha:g}")
    return noise_sigma * STRENGTH_LOW * (STRENGTH_HIGH / STRENGTH_LOW) ** alpha


def schedule_for(alpha: float, noise_sigma: float, iterations: int = ITERATIONS) -> Schedule:
    """The HQS schedule of a ``--kernel`` run at ``alpha`` for noise level ``noise_sigma``:
    :func:`~tunecli.pnp.hqs.dpir_schedule` at σa = :func:`assumed_noise`, with DPIR's λ."""
    sigma = assumed_noise(alpha, noise_sigma)
    return dpir_schedule(sigma, lam=LAMBDA, iterations=iterations)


def estimate_blurred_noise(image: np.ndarray) -> float:
    """σn (0–255) of a blurred image ``(H, W[, C])`` float in [0, 1], for ``--alpha auto``.
    Raises :class:`InputImageError` for an image too small to estimate from."""
    try:
        return estimate_noise_sigma(np.asarray(image, dtype=np.float32))
    except ValueError as exc:
        raise InputImageError(f"cannot estimate the noise level: {exc}") from exc


def deblur_with_kernel(
    image: np.ndarray,
    kernel: np.ndarray,
    denoiser: Restorer | Prior,
    alpha: float = DEFAULT_ALPHA,
    noise_sigma: float | None = None,
    *,
    iterations: int = ITERATIONS,
    tile: TileSpec = "auto",
    schedule: Schedule | None = None,
) -> np.ndarray:
    """Deblur ``image`` blurred by ``kernel`` (and noise of ``noise_sigma``).

    ``image``: float ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, finite, in [0, 1] (gray, RGB;
    alpha channels and integer samples are the caller's); ``kernel``: 2-D non-negative, summing
    to 1 (:func:`load_kernel`), convolved as :func:`tunecli.degradations.blur.blur` does;
    ``denoiser``: a loaded tunable denoiser (run through the tiling engine with ``tile``) or any
    :class:`~tunecli.pnp.prior.Prior`; ``alpha`` in [0, 1] and ``noise_sigma`` (0–255; ``None``:
    estimated, :func:`estimate_blurred_noise`) pick the schedule (:func:`schedule_for`) unless
    ``schedule`` is given. Returns float32 of the input's shape, clipped to [0, 1].
    Raises :class:`~tunecli.errors.TunecliError` subclasses.
    """
    from tunecli.api import Restorer

    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3) or not np.issubdtype(pixels.dtype, np.floating):
        raise UsageError(f"expected a float (H, W), (H, W, 1) or (H, W, 3) image, got {pixels.dtype} {image.shape}")
    if not np.isfinite(pixels).all():
        raise InputImageError("the image holds NaN or infinite samples")
    if schedule is None:
        sigma = estimate_blurred_noise(pixels) if noise_sigma is None else float(noise_sigma)
        if not sigma >= 0:
            raise UsageError(f"the noise level must be >= 0, not {noise_sigma}")
        schedule = schedule_for(alpha, sigma, iterations)
    prior = DenoiserPrior(denoiser, tile=tile) if isinstance(denoiser, Restorer) else denoiser
    # a (C, H, W) view of the caller's samples, not a copy (a 24 MP photo: 300 MB)
    observed = torch.from_numpy(np.asarray(pixels, dtype=np.float32)).permute(2, 0, 1)
    physics = BlurOperator(kernel, observed.shape[1], observed.shape[2])
    with torch.inference_mode():
        restored = physics.crop(hqs(observed, physics, prior, schedule)).permute(1, 2, 0)
        out = torch.clamp(restored, 0.0, 1.0, out=torch.empty(restored.shape)).numpy()  # one (H, W, C) copy
    return out[:, :, 0] if np.ndim(image) == 2 else out
