"""Benchmark: the tunable deblurrer vs non-blind Wiener and Richardson–Lucy, the input and the
shipped denoiser, on real camera-shake kernels.

One run, the same degraded images for every method: each clean image (a centre crop of
``--crop`` px of the first ``--limit`` images of each set) is blurred by every kernel of a set —
the 8 camera-shake kernels of Levin et al. 2009 (``kernels/KAIR/Levin09.mat``) and the 4 motion
kernels of the USRNet set (``kernels_12.mat``, indices 8–11; ``--kernel-sets gaussian``: its 8
isotropic and anisotropic Gaussians, 0–7) — with a **reflect** boundary, then
gets seeded AWGN of σ (0–255) saved to 8 bits (:func:`tunecli.tasks.deblur.blurred_noisy`, the
same inputs as ``tunecli eval deblur``). PSNR/SSIM on 8-bit RGB over the whole image.

Methods:

- ``input``: the degraded image;
- ``wiener`` / ``richardson-lucy``: scikit-image's non-blind deconvolutions *given the true
  kernel*, per channel, on the input mirrored by the kernel size on every side (so their
  circular/zero boundary falls outside the image) and cropped back; their regularisation
  (Wiener ``balance``, RL iterations) is tuned per σ on one image (the first of the first set,
  first Levin kernel) over a grid, and the chosen values are printed;
- ``denoiser``: the shipped denoiser alone at the alpha matching σ;
- ``tunecli (card)``: the deblurrer at the alpha its card maps from the true degradation:
  noise = σ/30, blur = the kernel's strength from its spread
  (:func:`tunecli.tasks.deblur.blur_of_kernel`);
- ``tunecli (best grid)``: the best fixed alpha of the grid noise × blur (chosen per kernel
  set and σ on the mean PSNR of these very images: an oracle, stated as such).

Then the axis sweeps: the output's gradient energy (mean squared neighbour difference) along
``blur`` (should rise: more sharpening) and along ``noise`` (should fall: more smoothing).

    pip install ".[eval]"   # h5py/scipy read the .mat kernels; scikit-image for the baselines
    python bench/deblur_baselines.py ../shared/data --model weights/deblur-unet.safetensors \\
        --sets CBSD68,McMaster --limit 3 --crop 256 --json bench/results/deblur_baselines.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from tunecli.api import load
from tunecli.degradations.kernel_files import read_kernels
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim
from tunecli.tasks import get_task
from tunecli.tasks.deblur import blur_of_kernel, blurred_noisy, noise_of_sigma
from tunecli.training.data import list_images

Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
WIENER_BALANCES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
RL_ITERATIONS = (3, 5, 10, 20, 40)


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top : top + side, left : left + side]


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


def tune(make: Callable[[float], Method], grid: Sequence[float], case: tuple, sigma: float) -> float:
    """The grid value with the best PSNR on one case."""
    return max(grid, key=lambda value: score(make(value), [case], sigma)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder (holds test/CBSD68, kernels/KAIR, …)")
    parser.add_argument("--model", default="deblur-unet")
    parser.add_argument("--denoiser", default="denoise-unet-l4")
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
    args = parser.parse_args()

    kernel_dir = args.data / "kernels" / "KAIR"
    available = {
        "levin": ("Levin09 (8)", lambda: read_kernels(kernel_dir / "Levin09.mat")),
        "motion": ("kernels_12 motion (4)", lambda: read_kernels(kernel_dir / "kernels_12.mat")[8:12]),
        "gaussian": ("kernels_12 Gaussian (8)", lambda: read_kernels(kernel_dir / "kernels_12.mat")[:8]),
    }
    kernel_sets = {available[key][0]: available[key][1]() for key in args.kernel_sets.split(",")}
    levin_first = read_kernels(kernel_dir / "Levin09.mat")[0]
    images = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])[: args.limit]
        images += [centre_crop(img, args.crop) if args.crop else img for img in load_clean_images(files)]
    deblurrer = load(args.model, device="cpu", precision="fp32")
    denoiser = load(args.denoiser, device="cpu", precision="fp32")
    sigmas = [float(v) for v in args.sigmas.split(",")]
    grid = [(float(n), float(b)) for n in args.noise_grid.split(",") for b in args.blur_grid.split(",")]
    print(f"Machine: {describe_host()}")
    print(
        f"Images: first {args.limit} of {args.sets}, centre crops of {args.crop} px; reflect boundary; "
        "8-bit noise; PSNR/SSIM on 8-bit RGB, whole image.\n"
    )
    denoise_task, space = get_task("denoise"), denoiser.alpha_space
    if args.in_distribution:
        in_distribution(deblurrer, images, args.seed)
        return
    rows: list[dict] = []
    for sigma in [] if args.sweeps_only else sigmas:
        tuning_case = None
        for set_name, kernels in kernel_sets.items():
            cases = [
                (clean, blurred_noisy(clean, kernel, sigma, args.seed, 1000 * k + i), kernel)
                for k, kernel in enumerate(kernels)
                for i, clean in enumerate(images)
            ]
            if tuning_case is None:
                tuning_case = cases[0]
                balance = tune(wiener, WIENER_BALANCES, tuning_case, sigma)
                iterations = int(tune(richardson_lucy, RL_ITERATIONS, tuning_case, sigma))  # type: ignore[arg-type]
                print(f"sigma {sigma:g}: Wiener balance {balance:g}, Richardson-Lucy {iterations} iterations (tuned)")
            noise = noise_of_sigma(sigma)
            denoise_omega = denoise_task.alpha_for_noise(space, sigma)
            methods: dict[str, tuple[str, Method]] = {
                "input": ("-", lambda degraded, _k, _s: degraded),
                "wiener": (f"balance {balance:g}", wiener(balance)),
                "richardson-lucy": (f"{iterations} iterations", richardson_lucy(iterations)),
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
                p, s = score(run, cases, sigma)
                rows.append(
                    {"kernels": set_name, "sigma": sigma, "method": method, "setting": setting, "psnr": p, "ssim": s}
                )
            best = None
            for omega in grid:
                p, s = score(
                    lambda degraded, _k, _s, omega=omega: deblurrer.run(degraded, alpha=omega, tile=0), cases, sigma
                )
                if best is None or p > best[0]:
                    best = (p, s, omega)
            assert best is not None
            rows.append(
                {
                    "kernels": set_name,
                    "sigma": sigma,
                    "method": "tunecli (best grid)",
                    "setting": f"noise={best[2][0]:g}, blur={best[2][1]:g}",
                    "psnr": best[0],
                    "ssim": best[1],
                }
            )
    if rows:
        print("\n| kernels | sigma | method | setting | PSNR | SSIM |")
        print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['kernels']} | {row['sigma']:g} | {row['method']} | {row['setting']} | {row['psnr']:.2f} | {row['ssim']:.4f} |"
        )
    sweeps = axis_sweeps(deblurrer, images, levin_first, args.seed)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "sweeps": sweeps, "images": len(images), "crop": args.crop}, indent=1)
        )


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


if __name__ == "__main__":
    main()
