"""``tunecli eval``: PSNR/SSIM of a tunable denoiser per noise level and alpha.

Noise is seeded per (image, σ) so every run and every model sees the same noisy images
(:func:`tunecli.degradations.noise.seeded_awgn`).
Inputs are either float noise (clean + σ·n, unclipped) or 8-bit noisy images (clipped and
rounded, as a saved photo is); outputs are quantized to 8 bits before measuring, as in the
literature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tunecli.degradations.noise import seeded_awgn
from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim
from tunecli.imageio import read_rgb


@dataclass(frozen=True)
class EvalRow:
    """Mean scores over the images for one (σ, alpha, noise kind)."""

    sigma: float
    alpha: float
    noise: str  # "float" | "8bit"
    psnr: float
    ssim: float
    noisy_psnr: float
    residual_rms: float  # RMS of (restored − noisy) on the 0–255 scale: how much was smoothed away
    images: int
    seconds_per_mp: float


def load_clean_images(files: Sequence[Path]) -> list[np.ndarray]:
    """:func:`tunecli.imageio.read_rgb` of every file."""
    return [read_rgb(path) for path in files]


def evaluate_denoiser(
    denoise: Callable[[np.ndarray, float, float], np.ndarray],
    images: Sequence[np.ndarray],
    sigmas: Sequence[float],
    alphas_for: Callable[[float], Sequence[float]],
    noise_kinds: Sequence[str] = ("float", "8bit"),
    seed: int = 0,
    warm_up: bool = True,
) -> list[EvalRow]:
    """Score ``denoise(noisy, sigma, alpha) -> restored`` (float32 ``(H, W, 3)``) on every
    image at every σ and every alpha that ``alphas_for(σ)`` proposes. Non-blind baselines use
    ``sigma``; a tunable model uses ``alpha``.

    With ``warm_up`` the first image of each shape is run once untimed before it is timed, so
    one-time costs (kernel selection per input shape, lazy set-up) stay out of seconds per MP."""
    rows = []
    warmed: set[tuple[int, ...]] = set()
    for kind in noise_kinds:
        for sigma in sigmas:
            noisy_set = [seeded_awgn(img, sigma, seed, i, kind == "8bit") for i, img in enumerate(images)]
            noisy_psnr = float(np.mean([psnr(quantize_8bit(n), c) for n, c in zip(noisy_set, images, strict=True)]))
            for alpha in alphas_for(sigma):
                scores_p, scores_s, residuals, seconds, pixels = [], [], [], 0.0, 0
                for noisy, clean in zip(noisy_set, images, strict=True):
                    if warm_up and noisy.shape not in warmed:
                        denoise(noisy, sigma, alpha)
                        warmed.add(noisy.shape)
                    began = time.perf_counter()
                    restored = quantize_8bit(denoise(noisy, sigma, alpha))
                    seconds += time.perf_counter() - began
                    pixels += clean.shape[0] * clean.shape[1]
                    scores_p.append(psnr(restored, clean))
                    scores_s.append(ssim(restored, clean))
                    residuals.append(float(np.mean((restored - quantize_8bit(noisy)) ** 2)))
                rows.append(
                    EvalRow(
                        sigma=sigma,
                        alpha=round(alpha, 4),
                        noise=kind,
                        psnr=round(float(np.mean(scores_p)), 3),
                        ssim=round(float(np.mean(scores_s)), 4),
                        noisy_psnr=round(noisy_psnr, 3),
                        residual_rms=round(255 * float(np.sqrt(np.mean(residuals))), 3),
                        images=len(images),
                        seconds_per_mp=round(seconds / (pixels / 1e6), 3),
                    )
                )
    return rows


def rows_to_json(rows: Sequence[EvalRow]) -> list[dict]:
    return [asdict(r) for r in rows]
