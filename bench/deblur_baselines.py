"""Benchmark: non-blind deblurring with the known kernel (``tunecli deblur --kernel``: HQS with the
tunable denoiser as the prior) and the blind tunable deblurrer vs non-blind Wiener and
Richardson–Lucy, the input and the shipped denoiser, on real camera-shake kernels.

One run, the same degraded images for every method: each clean image (the first ``--limit``
images of each set) is blurred by every kernel of a set — the 8 camera-shake kernels of Levin et
al. 2009 (``kernels/KAIR/Levin09.mat``) and the 4 motion kernels of the USRNet set
(``kernels_12.mat``, indices 8–11; ``--kernel-sets gaussian``: its 8 isotropic and anisotropic
Gaussians, 0–7) — then gets seeded AWGN of σ (0–255) saved to 8 bits. ``--boundary valid`` (the
default): a centre region of ``--crop`` + kernel − 1 px is blurred with *valid* convolution, so
the ``--crop`` px each method sees were blurred by real image around them (as a photo is) and no
synthetic boundary helps any method; the clean target is the region's centre ``--crop`` px.
``--boundary reflect``: the centre crop is blurred with a reflect boundary
(:func:`tunecli.tasks.deblur.blurred_noisy`, the inputs of ``tunecli eval deblur`` and of this
bench's results before the ``--kernel`` mode). PSNR/SSIM on 8-bit RGB over the whole image.

Methods:

- ``input``: the degraded image;
- ``wiener`` / ``richardson-lucy``: scikit-image's non-blind deconvolutions *given the true
  kernel*, per channel, on the input mirrored by the kernel size on every side (so their
  circular/zero boundary falls outside the image) and cropped back; their regularisation
  (Wiener ``balance``, RL iterations) is tuned **per image** (per image and kernel: an oracle)
  over a grid, and the range of chosen values is shown;
- ``denoiser``: the shipped denoiser alone at the alpha matching σ;
- ``tunecli (card)``: the blind deblurrer at the alpha its card maps from the true degradation:
  noise = σ/30, blur = the kernel's strength from its spread
  (:func:`tunecli.tasks.deblur.blur_of_kernel`);
- ``tunecli (best grid)``: the blind deblurrer's best fixed alpha of the grid noise × blur
  (chosen per kernel set and σ on the mean PSNR of these very images: an oracle, stated as such);
- ``tunecli --kernel (default)``: :func:`tunecli.pnp.deblur.deblur_with_kernel` with the true
  kernel and σ at the documented default alpha; ``(auto)``: the same with σ estimated from the
  image (what ``--alpha auto`` does); ``(best alpha)``: the best alpha of ``--kernel-alphas``
  (per kernel set and σ on the mean PSNR: an oracle); ``(default, extrapolated below σ 5)``
  (only where the default schedule reaches below the denoiser's σ 5 floor): the default with the
  floor's residual scaled by (σ/5)² instead of clamped — what a denoiser trained below σ 5
  might add.

Then the axis sweeps: the output's gradient energy (mean squared neighbour difference) along
the blind model's ``blur`` (should rise: more sharpening) and ``noise`` (should fall: more
smoothing) and along the ``--kernel`` alpha (should fall: 0 keeps detail … 1 smoothest).

``--time`` instead measures (on a quiet machine) seconds per megapixel of ``--kernel`` and of the
blind model, and the peak RSS and time of a ``--kernel`` run on a 24 MP image with a 31×31
kernel in a fresh process.

    pip install ".[eval]"   # h5py/scipy read the .mat kernels; scikit-image for the baselines
    python bench/deblur_baselines.py DATA_DIR --model weights/deblur-unet.safetensors \\
        --sets CBSD68,McMaster --limit 3 --crop 256 --json bench/results/deblur_kernel.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from tunecli.api import load
from tunecli.degradations.kernel_files import read_kernels
from tunecli.degradations.noise import seeded_awgn
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim
from tunecli.pnp.deblur import DEFAULT_ALPHA, deblur_with_kernel, schedule_for
from tunecli.pnp.prior import DenoiserPrior, Prior
from tunecli.tasks import get_task
from tunecli.tasks.deblur import blur_of_kernel, blurred_noisy, noise_of_sigma
from tunecli.tasks.denoise import SIGMA_MIN
from tunecli.training.data import list_images

Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
Case = tuple[np.ndarray, np.ndarray, np.ndarray]
#: wide enough that no image's best lies on the edge at sigma 2.55-15 (tuned per image)
WIENER_BALANCES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
RL_ITERATIONS = (3, 5, 10, 20, 40, 80)
#: the ``--time`` memory check: a 24 MP photo and a 31x31 kernel
RSS_IMAGE = (4000, 6000)
RSS_KERNEL = 31


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top : top + side, left : left + side]


def valid_blurred_noisy(
    image: np.ndarray, kernel: np.ndarray, side: int, sigma: float, seed: int, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, degraded)``: a centre region of ``side`` + kernel − 1 px of ``image`` convolved
    with ``kernel`` keeping the *valid* part (``side`` px, each blurred by real image around it;
    0: the whole image less the kernel's margin), then seeded 8-bit AWGN of ``sigma``; ``clean``
    is the region's centre ``side`` px, the pixels the valid samples are centred on."""
    from scipy.signal import fftconvolve

    kh, kw = kernel.shape
    h, w = image.shape[:2]
    out_h, out_w = min(side or h, h - kh + 1), min(side or w, w - kw + 1)
    top, left = (h - out_h - kh + 1) // 2, (w - out_w - kw + 1) // 2
    region = image[top : top + out_h + kh - 1, left : left + out_w + kw - 1].astype(np.float64)
    blurred = np.stack([fftconvolve(region[..., c], kernel, mode="valid") for c in range(region.shape[2])], axis=2)
    # the valid sample y looks at region[y : y + kh] through the flipped kernel: centred on y + kh - 1 - kh // 2
    row, col = kh - 1 - kh // 2, kw - 1 - kw // 2
    clean = np.ascontiguousarray(region[row : row + out_h, col : col + out_w], dtype=np.float32)
    return clean, seeded_awgn(blurred.astype(np.float32), sigma, seed, index, quantized=True)


def make_cases(
    images: Sequence[np.ndarray], kernels: Sequence[np.ndarray], sigma: float, seed: int, crop: int, boundary: str
) -> list[Case]:
    """``(clean, degraded, kernel)`` for every kernel and image (see ``--boundary``)."""
    cases = []
    for k, kernel in enumerate(kernels):
        for i, image in enumerate(images):
            if boundary == "valid":
                clean, degraded = valid_blurred_noisy(image, kernel, crop, sigma, seed, 1000 * k + i)
            else:
                clean = centre_crop(image, crop) if crop else image
                degraded = blurred_noisy(clean, kernel, sigma, seed, 1000 * k + i)
            cases.append((clean, degraded, kernel))
    return cases


def per_channel(deconvolve: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Method:
    """A non-blind deconvolution of one gray plane run on each channel of a mirrored copy."""

    def run(degraded: np.ndarray, kernel: np.ndarray, _sigma: float) -> np.ndarray:
        pad = kernel.shape[0]
        mirrored = np.pad(degraded, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        planes = [deconvolve(mirrored[..., c].astype(np.float64), kernel) for c in range(mirrored.shape[2])]
        return np.clip(np.stack(planes, axis=2)[pad:-pad, pad:-pad], 0, 1).astype(np.float32)

    return run


def wiener(balance: float) -> Method:
    from skimage.restoration import wiener as skimage_wiener

    return per_channel(lambda plane, kernel: skimage_wiener(plane, kernel, balance, clip=False))


def richardson_lucy(iterations: int) -> Method:
    from skimage.restoration import richardson_lucy as skimage_rl

    return per_channel(lambda plane, kernel: skimage_rl(np.clip(plane, 1e-6, 1), kernel, iterations, clip=False))


def score(
    method: Method, cases: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], sigma: float
) -> tuple[float, float]:
    """Mean PSNR and SSIM of ``method`` over ``(clean, degraded, kernel)`` cases."""
    p, s = [], []
    for clean, degraded, kernel in cases:
        restored = quantize_8bit(method(degraded, kernel, sigma))
        p.append(psnr(restored, clean))
        s.append(ssim(restored, clean))
    return float(np.mean(p)), float(np.mean(s))


def score_per_case(method: Method, cases: Sequence[Case], sigma: float) -> list[tuple[float, float]]:
    """``(PSNR, SSIM)`` of ``method`` on each case."""
    return [score(method, [case], sigma) for case in cases]


def oracle(
    make: Callable[[float], Method], grid: Sequence[float], cases: Sequence[Case], sigma: float
) -> tuple[float, float, list[float]]:
    """Mean PSNR and SSIM of ``make(value)`` with the best ``value`` of ``grid`` **per case**
    (an oracle), and the values chosen."""
    table = [score_per_case(make(value), cases, sigma) for value in grid]
    best = [max(range(len(grid)), key=lambda g, c=c: table[g][c][0]) for c in range(len(cases))]
    p = float(np.mean([table[g][c][0] for c, g in enumerate(best)]))
    s = float(np.mean([table[g][c][1] for c, g in enumerate(best)]))
    return p, s, [grid[g] for g in best]


def kernel_method(prior: Prior, alpha: float, known_noise: bool = True) -> Method:
    """``tunecli --kernel`` at ``alpha``: the true σ, or (``known_noise`` False) σ estimated."""

    def run(degraded: np.ndarray, kernel: np.ndarray, sigma: float) -> np.ndarray:
        return deblur_with_kernel(degraded, kernel, prior, alpha, sigma if known_noise else None)

    return run


def extrapolated_below_floor(prior: Prior, floor: float = SIGMA_MIN) -> Prior:
    """``prior`` with σ below ``floor`` run at the floor and its residual scaled by (σ/floor)²
    (Tweedie: a denoiser's residual is σ² times the score, which varies slowly at small σ)."""

    def run(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma >= floor:
            return prior(x, sigma)
        return x + (sigma / floor) ** 2 * (prior(x, floor) - x)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder (holds test/CBSD68, kernels/KAIR, …)")
    parser.add_argument("--model", default="deblur-unet")
    parser.add_argument(
        "--denoiser",
        default=get_task("deblur").kernel_prior_name(),
        help="the --kernel prior (default: the one deblur --kernel uses), also run alone as a baseline",
    )
    parser.add_argument("--sets", default="CBSD68,McMaster")
    parser.add_argument("--limit", type=int, default=3, help="images per set")
    parser.add_argument("--crop", type=int, default=256, help="centre crop side (0: whole images)")
    parser.add_argument("--sigmas", default="2.55,7.65,15")
    parser.add_argument("--noise-grid", default="0.05,0.1,0.25,0.5")
    parser.add_argument("--blur-grid", default="0.25,0.5,0.75,1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--sweeps-only", action="store_true", help="only the axis sweeps")
    parser.add_argument(
        "--in-distribution",
        action="store_true",
        help="only the training generator's own kernels: each kind at strengths 0.25, 0.5, 1, sigma 2.55",
    )
    parser.add_argument(
        "--kernel-sets",
        default="levin,motion",
        help="levin (Levin09.mat), motion (kernels_12.mat 8-11), gaussian (kernels_12.mat 0-7: isotropic and anisotropic)",
    )
    parser.add_argument(
        "--boundary",
        choices=("valid", "reflect"),
        default="valid",
        help="valid: blur a larger crop and keep the valid part (no synthetic boundary); reflect: blur the crop itself",
    )
    parser.add_argument(
        "--kernel-alphas", default="0.125,0.25,0.375,0.5", help="the --kernel alpha grid (its best is an oracle)"
    )
    parser.add_argument(
        "--time", action="store_true", help="only timings: s/MP of --kernel and the blind model, 24 MP RSS"
    )
    parser.add_argument(
        "--no-24mp", action="store_true", help="with --time: leave out the 24 MP run (it takes 15-25 min on 2 cores)"
    )
    parser.add_argument("--rss-probe", action="store_true", help=argparse.SUPPRESS)  # the --time child process
    args = parser.parse_args()
    if args.rss_probe:
        rss_probe(args.denoiser)
        return

    kernel_dir = args.data / "kernels" / "KAIR"
    available = {
        "levin": ("Levin09 (8)", lambda: read_kernels(kernel_dir / "Levin09.mat")),
        "motion": ("kernels_12 motion (4)", lambda: read_kernels(kernel_dir / "kernels_12.mat")[8:12]),
        "gaussian": ("kernels_12 Gaussian (8)", lambda: read_kernels(kernel_dir / "kernels_12.mat")[:8]),
    }
    kernel_sets = {available[key][0]: available[key][1]() for key in args.kernel_sets.split(",")}
    levin_first = read_kernels(kernel_dir / "Levin09.mat")[0]
    full_images = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])[: args.limit]
        full_images += load_clean_images(files)
    images = [centre_crop(img, args.crop) if args.crop else img for img in full_images]
    deblurrer = load(args.model, device="cpu", precision="fp32")
    denoiser = load(args.denoiser, device="cpu", precision="fp32")
    prior = DenoiserPrior(denoiser)
    sigmas = [float(v) for v in args.sigmas.split(",")]
    grid = [(float(n), float(b)) for n in args.noise_grid.split(",") for b in args.blur_grid.split(",")]
    kernel_alphas = [float(v) for v in args.kernel_alphas.split(",")]
    if DEFAULT_ALPHA not in kernel_alphas:
        kernel_alphas.append(DEFAULT_ALPHA)
    print(f"Machine: {describe_host()}")
    if args.time:
        timings(deblurrer, denoiser, prior, images[0], levin_first, args.denoiser, with_24mp=not args.no_24mp)
        return
    boundary = (
        "valid convolution of a crop + kernel - 1 px (no synthetic boundary)"
        if args.boundary == "valid"
        else "reflect boundary"
    )
    print(
        f"Images: first {args.limit} of {args.sets} ({len(full_images)}), centre crops of {args.crop} px; {boundary}; "
        "8-bit noise; PSNR/SSIM on 8-bit RGB, whole image.\n"
    )
    denoise_task, space = get_task("denoise"), denoiser.alpha_space
    if args.in_distribution:
        in_distribution(deblurrer, images, args.seed)
        return
    rows: list[dict] = []
    for sigma in [] if args.sweeps_only else sigmas:
        for set_name, kernels in kernel_sets.items():
            cases = make_cases(full_images, kernels, sigma, args.seed, args.crop, args.boundary)
            noise = noise_of_sigma(sigma)
            denoise_omega = denoise_task.alpha_for_noise(space, sigma)

            def row(
                method: str, setting: str, p: float, s: float, set_name: str = set_name, sigma: float = sigma
            ) -> None:
                rows.append(
                    {"kernels": set_name, "sigma": sigma, "method": method, "setting": setting, "psnr": p, "ssim": s}
                )
                print(f"  {set_name} sigma {sigma:g} {method} ({setting}): {p:.2f} dB", flush=True)

            for method, make, values, unit in (
                ("wiener", wiener, WIENER_BALANCES, "balance"),
                ("richardson-lucy", richardson_lucy, RL_ITERATIONS, "iterations"),
            ):
                p, s, chosen = oracle(make, values, cases, sigma)  # type: ignore[arg-type]
                row(method, f"per image: {unit} {min(chosen):g}-{max(chosen):g}", p, s)
            methods: dict[str, tuple[str, Method]] = {
                "input": ("-", lambda degraded, _k, _s: degraded),
                "denoiser": (
                    f"alpha {denoise_omega[1]:.3f}",  # type: ignore[index]
                    lambda degraded, _k, s: denoiser.run(
                        degraded, alpha=denoise_task.alpha_for_noise(space, s), tile=0
                    ),
                ),
                "tunecli (card)": (
                    f"noise={noise:.3f}, blur per kernel",
                    lambda degraded, kernel, s: deblurrer.run(
                        degraded, alpha=(noise_of_sigma(s), blur_of_kernel(kernel)), tile=0
                    ),
                ),
            }
            for method, (setting, run) in methods.items():
                row(method, setting, *score(run, cases, sigma))
            best = None
            for omega in grid:
                p, s = score(
                    lambda degraded, _k, _s, omega=omega: deblurrer.run(degraded, alpha=omega, tile=0), cases, sigma
                )
                if best is None or p > best[0]:
                    best = (p, s, omega)
            assert best is not None
            row("tunecli (best grid)", f"noise={best[2][0]:g}, blur={best[2][1]:g}", best[0], best[1])
            kernel_rows(row, prior, kernel_alphas, cases, sigma)
    if rows:
        print("\n| kernels | sigma | method | setting | PSNR | SSIM |")
        print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['kernels']} | {row['sigma']:g} | {row['method']} | {row['setting']} | {row['psnr']:.2f} | {row['ssim']:.4f} |"
        )
    if rows:
        targets(rows)
    sweeps = axis_sweeps(deblurrer, images, levin_first, args.seed)
    sweeps["kernel_alpha"] = kernel_alpha_sweep(prior, full_images, levin_first, args)
    if args.json:
        record = {
            "command": " ".join(["python", *sys.argv]),
            "rows": rows,
            "sweeps": sweeps,
            "images": len(images),
            "crop": args.crop,
            "boundary": args.boundary,
        }
        args.json.write_text(json.dumps(record, indent=1))


def in_distribution(deblurrer: object, images: list[np.ndarray], seed: int) -> None:
    """PSNR of the input and of the deblurrer at the card alpha on kernels of the training's own
    generator (:func:`tunecli.degradations.blur.random_kernel`, one seeded kernel per kind and
    strength), σ 2.55: how much of each kind training taught."""
    from tunecli.degradations.blur import KINDS, random_kernel

    sigma = 2.55
    print(f"\nIn distribution (the training's kernel generator, seed 1 per kernel; sigma {sigma:g}; PSNR dB):\n")
    print("| kind | strength | card blur | input | tunecli (card) | gain |")
    print("|---|---|---|---|---|---|")
    for kind in KINDS:
        for strength in (0.25, 0.5, 1.0):
            kernel = random_kernel(strength, torch.Generator().manual_seed(1), kind=kind).numpy()
            blur = blur_of_kernel(kernel)
            before, after = [], []
            for i, clean in enumerate(images):
                degraded = blurred_noisy(clean, kernel, sigma, seed, i)
                before.append(psnr(quantize_8bit(degraded), clean))
                restored = deblurrer.run(degraded, alpha=(noise_of_sigma(sigma), blur), tile=0)  # type: ignore[attr-defined]
                after.append(psnr(quantize_8bit(restored), clean))
            gain = np.mean(after) - np.mean(before)
            print(
                f"| {kind} | {strength:g} | {blur:.2f} | {np.mean(before):.2f} | {np.mean(after):.2f} | {gain:+.2f} |"
            )


def gradient_energy(image: np.ndarray) -> float:
    """Mean squared finite difference (both axes, all channels) on the 0–255 scale: how much
    fine detail and edge contrast an image holds (sharper: higher; smoother: lower)."""
    dy = np.diff(image, axis=0)
    dx = np.diff(image, axis=1)
    return float((np.mean(dy**2) + np.mean(dx**2)) * 255**2)


def axis_sweeps(deblurrer: object, images: list[np.ndarray], kernel: np.ndarray, seed: int) -> dict:
    """Monotonicity along each axis on one kernel (the first Levin kernel) at σ 7.65: the
    output's gradient energy along ``blur`` (noise at σ/30; should grow: more sharpening) and
    along ``noise`` (blur at the kernel's strength; should fall: more smoothing)."""
    sigma = 7.65
    degraded = [blurred_noisy(clean, kernel, sigma, seed, 9000 + i) for i, clean in enumerate(images)]
    noise, blur = noise_of_sigma(sigma), blur_of_kernel(kernel)
    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    result = {}
    for axis, omegas in (("blur", [(noise, t) for t in steps]), ("noise", [(t, blur) for t in steps])):
        outputs = [[quantize_8bit(deblurrer.run(d, alpha=omega, tile=0)) for d in degraded] for omega in omegas]  # type: ignore[attr-defined]
        energies = [float(np.mean([gradient_energy(o) for o in outs])) for outs in outputs]
        residuals = [
            255
            * float(
                np.sqrt(np.mean([np.mean((o - quantize_8bit(d)) ** 2) for o, d in zip(outs, degraded, strict=True)]))
            )
            for outs in outputs
        ]
        rising = all(a < b for a, b in pairwise(energies))
        falling = all(a > b for a, b in pairwise(energies))
        result[axis] = {
            "omegas": omegas,
            "gradient_energy": energies,
            "residual_rms": residuals,
            "energy_monotonic": rising if axis == "blur" else falling,
            "residual_monotonic": all(a < b for a, b in pairwise(residuals)),
        }
    print(f"\nAxis sweeps (first Levin kernel, sigma {sigma:g}, 0-255 scale):\n")
    print("| axis (the other at its card value) | measure | " + " | ".join(f"{t:g}" for t in steps) + " | monotonic |")
    print("|---|---|" + "---|" * len(steps) + "---|")
    for axis, row in result.items():
        direction = "rising" if axis == "blur" else "falling"
        energies = " | ".join(f"{e:.1f}" for e in row["gradient_energy"])
        residuals = " | ".join(f"{e:.2f}" for e in row["residual_rms"])
        energy_ok = "yes" if row["energy_monotonic"] else "no"
        residual_ok = "yes" if row["residual_monotonic"] else "no"
        print(f"| {axis} | output gradient energy | {energies} | {energy_ok} ({direction}) |")
        print(f"| {axis} | residual RMS to the input | {residuals} | {residual_ok} (rising) |")
    return result


RowSink = Callable[..., None]


def kernel_rows(row: RowSink, prior: Prior, alphas: Sequence[float], cases: Sequence[Case], sigma: float) -> None:
    """The ``tunecli --kernel`` rows of one kernel set and σ: default, auto, best alpha (and the
    floor check where the default schedule goes below σ 5)."""
    from tunecli.pnp.deblur import estimate_blurred_noise

    means = {alpha: score(kernel_method(prior, alpha), cases, sigma) for alpha in alphas}
    curve = " ".join(f"{alpha:g}: {p:.2f}" for alpha, (p, _) in means.items())
    print(f"  --kernel PSNR by alpha: {curve}", flush=True)
    row("tunecli --kernel (default)", f"alpha {DEFAULT_ALPHA:g}, true sigma", *means[DEFAULT_ALPHA])
    estimated = float(np.mean([estimate_blurred_noise(degraded) for _, degraded, _ in cases]))
    auto = score(kernel_method(prior, DEFAULT_ALPHA, known_noise=False), cases, sigma)
    row("tunecli --kernel (auto)", f"alpha {DEFAULT_ALPHA:g}, sigma estimated (mean {estimated:.2f})", *auto)
    best = max(alphas, key=lambda alpha: means[alpha][0])
    row("tunecli --kernel (best alpha)", f"alpha {best:g} of {', '.join(f'{a:g}' for a in alphas)}", *means[best])
    if min(schedule_for(DEFAULT_ALPHA, sigma).sigmas) < SIGMA_MIN:
        extrapolated = score(kernel_method(extrapolated_below_floor(prior), DEFAULT_ALPHA), cases, sigma)
        row("tunecli --kernel (default, extrapolated below σ 5)", f"alpha {DEFAULT_ALPHA:g}, true sigma", *extrapolated)


def targets(rows: Sequence[dict]) -> None:
    """The issue's targets per kernel set and σ: best alpha ≥ max(Wiener, RL) + 3.0 dB, the
    default (and auto) within 0.3 dB of it, and (Gaussian kernels) no worse than the blind model."""
    table: dict[tuple[str, float], dict[str, float]] = {}
    for r in rows:
        table.setdefault((r["kernels"], r["sigma"]), {})[r["method"]] = r["psnr"]
    print("\nTargets (PSNR dB; margin = --kernel best - max(Wiener, RL) >= 3.0; gap = best - default <= 0.3):\n")
    print(
        "| kernels | sigma | input | Wiener | RL | blind (card) | blind (best grid) | --kernel default | --kernel auto "
        "| --kernel best | margin | gap default | gap auto | vs blind best |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (kernels, sigma), m in table.items():
        best, default, auto = (
            m["tunecli --kernel (best alpha)"],
            m["tunecli --kernel (default)"],
            m["tunecli --kernel (auto)"],
        )
        margin = best - max(m["wiener"], m["richardson-lucy"])
        vs_blind = default - m["tunecli (best grid)"]
        cells = [m["input"], m["wiener"], m["richardson-lucy"], m["tunecli (card)"], m["tunecli (best grid)"]]
        cells += [default, auto, best]
        print(
            f"| {kernels} | {sigma:g} | "
            + " | ".join(f"{v:.2f}" for v in cells)
            + f" | {margin:+.2f} {'ok' if margin >= 3.0 else 'MISS'} | {best - default:.2f} {'ok' if best - default <= 0.3 else 'MISS'}"
            + f" | {best - auto:.2f} {'ok' if best - auto <= 0.3 else 'MISS'} | {vs_blind:+.2f} |"
        )


def kernel_alpha_sweep(
    prior: Prior, images: Sequence[np.ndarray], kernel: np.ndarray, args: argparse.Namespace
) -> dict:
    """Monotonicity of the ``--kernel`` alpha on one kernel (the first Levin kernel) at σ 7.65:
    the output's gradient energy should fall from alpha 0 (most detail) to 1 (smoothest), and so
    should its distance to the (blurred) input: a smoother result undoes less of the blur."""
    sigma = 7.65
    cases = make_cases(images, [kernel], sigma, args.seed + 9000, args.crop, args.boundary)
    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    outputs = [[quantize_8bit(kernel_method(prior, a)(d, k, sigma)) for _, d, k in cases] for a in steps]
    energies = [float(np.mean([gradient_energy(o) for o in outs])) for outs in outputs]
    residuals = [
        255
        * float(
            np.sqrt(np.mean([np.mean((o - quantize_8bit(d)) ** 2) for o, (_, d, _) in zip(outs, cases, strict=True)]))
        )
        for outs in outputs
    ]
    result = {
        "alphas": steps,
        "gradient_energy": energies,
        "residual_rms": residuals,
        "energy_monotonic": all(a > b for a, b in pairwise(energies)),
        "residual_monotonic": all(a > b for a, b in pairwise(residuals)),
    }
    print(f"\n--kernel alpha sweep (first Levin kernel, sigma {sigma:g}, 0-255 scale):\n")
    print("| measure | " + " | ".join(f"{t:g}" for t in steps) + " | monotonic |")
    print("|---|" + "---|" * len(steps) + "---|")
    print(
        "| output gradient energy | "
        + " | ".join(f"{e:.1f}" for e in energies)
        + f" | {'yes' if result['energy_monotonic'] else 'no'} (falling) |"
    )
    print(
        "| residual RMS to the input | "
        + " | ".join(f"{e:.2f}" for e in residuals)
        + f" | {'yes' if result['residual_monotonic'] else 'no'} (falling) |"
    )
    return result


def timings(
    deblurrer: object,
    denoiser: object,
    prior: Prior,
    image: np.ndarray,
    kernel: np.ndarray,
    denoiser_name: str,
    with_24mp: bool = True,
) -> None:
    """``--time``: seconds per megapixel of ``--kernel`` (default alpha, σ 7.65) and of the
    blind model (card alpha) on a 1.5 MP image (``image`` mirrored to 1024 x 1536 and blurred),
    after a warm-up; then the peak RSS and time of ``--kernel`` on a 24 MP image with a 31 x 31
    kernel in a fresh process (:func:`rss_probe`; ``with_24mp`` False: not). Run it on a quiet machine."""
    sigma = 7.65
    h, w = image.shape[:2]
    big = np.pad(image, ((0, max(0, 1024 + 64 - h)), (0, max(0, 1536 + 64 - w)), (0, 0)), mode="symmetric")
    _, degraded = valid_blurred_noisy(big, kernel, 0, sigma, 0, 0)
    degraded = degraded[:1024, :1536]
    megapixels = degraded.shape[0] * degraded.shape[1] / 1e6
    card = (noise_of_sigma(sigma), blur_of_kernel(kernel))
    runs = {
        "blind model (card alpha)": lambda x: deblurrer.run(x, alpha=card, tile="auto"),  # type: ignore[attr-defined]
        f"--kernel (alpha {DEFAULT_ALPHA:g}, {len(schedule_for(DEFAULT_ALPHA, sigma).sigmas)} iterations)": lambda x: (
            deblur_with_kernel(x, kernel, prior, DEFAULT_ALPHA, sigma)
        ),
    }
    print(
        f"\nTime on a {degraded.shape[1]}x{degraded.shape[0]} image ({megapixels:.2f} MP), torch threads {torch.get_num_threads()}:\n"
    )
    print("| method | s/MP |")
    print("|---|---|")
    for name, run in runs.items():
        run(degraded[:256, :256])  # warm-up
        start = time.perf_counter()
        run(degraded)
        print(f"| {name} | {(time.perf_counter() - start) / megapixels:.2f} |", flush=True)
    if not with_24mp:
        return
    height, width = RSS_IMAGE
    command = [sys.executable, __file__, "unused", "--rss-probe", "--denoiser", denoiser_name]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"\n--kernel on a {width}x{height} image ({width * height / 1e6:.0f} MP), {RSS_KERNEL}x{RSS_KERNEL} kernel: "
        f"{probe['seconds']:.0f} s, peak RSS {probe['peak_rss_mb']:.0f} MB (rusage of children: {children_mb:.0f} MB)"
    )


def rss_probe(denoiser_name: str) -> None:
    """The ``--time`` child: ``--kernel`` on a synthetic :data:`RSS_IMAGE` photo with a seeded
    motion kernel of :data:`RSS_KERNEL` px; prints ``{"seconds", "peak_rss_mb"}`` as JSON."""
    from tunecli.degradations.blur import random_kernel

    height, width = RSS_IMAGE
    kernel = random_kernel(0.9, torch.Generator().manual_seed(0), size=RSS_KERNEL, kind="motion").numpy()
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    prior = DenoiserPrior(load(denoiser_name, device="cpu", precision="fp32"))
    start = time.perf_counter()
    deblur_with_kernel(image, kernel, prior, DEFAULT_ALPHA, 7.65)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
