"""Benchmark: the noise-level estimator behind ``--alpha auto``, and what it costs in PSNR.

    python bench/noise_estimation.py DATA_DIR --json bench/results/noise_estimation.json
    python bench/noise_estimation.py DATA_DIR --limit 1 --sigmas 25 --grid-step 0.5   # smoke run

1. Estimation (every image of --sets, or the first --limit): the seeded noisy version of each
   clean image (the noise of ``tunecli eval``: float = unclipped, 8bit = clipped and rounded as
   a PNG stores it) at each σ, estimated by tunecli's ``estimate_noise_sigma`` and by
   scikit-image's ``estimate_sigma`` (wavelet MAD, the baseline; needs PyWavelets): bias (mean
   error), spread (standard deviation), mean and worst |error|, milliseconds per image, and that
   time as a share of the default denoiser's on the same images (``--alpha auto`` runs both; the
   issue's target: at most 15 %). The denoiser is timed once per image, as the CLI runs it (tile
   auto, fp32 on a CPU), in the same run as the estimates, so the share holds on a busy machine
   too; --no-denoiser-time skips it.
2. End to end (the default denoiser, on the first --psnr-limit of those images): PSNR of the
   8-bit output at the ``--alpha auto`` alpha against the best alpha of a grid 0…1 (step
   --grid-step) chosen per image with the clean image in hand, and at the alpha matching the
   true σ. The issue's target: auto within 0.1 dB of the best on average.
3. --gallery DIR: the real-noise photos of test/RNI15 (no ground truth), each restored at
   auto − 0.2, auto and auto + 0.2, on one sheet (DIR/rni15_auto.png) with a table of the
   estimates.

Prints Markdown tables; --json also writes every row.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunecli.api import Restorer, load
from tunecli.degradations.noise import seeded_awgn
from tunecli.device import describe_host
from tunecli.estimation.noise import estimate_noise_sigma
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.tasks import default_models, denoise
from tunecli.training.data import list_images

SEED = 0


def wavelet_mad() -> Any:
    """scikit-image's estimator as ``f(image) -> σ (0–255)``, or None without PyWavelets."""
    try:
        import pywt  # noqa: F401 - estimate_sigma imports it on every call
        from skimage.restoration import estimate_sigma
    except ImportError:
        return None
    return lambda image: 255.0 * float(estimate_sigma(image, channel_axis=-1, average_sigmas=True))


def estimation_row(
    name: str, kind: str, sigma: float, errors: dict[str, list[float]], ms: float, denoiser_ms: float | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"set": name, "noise": kind, "sigma": sigma, "images": len(errors["tunecli"])}
    for method, values in errors.items():
        e = np.asarray(values)
        row[method] = {
            "bias": float(e.mean()),
            "std": float(e.std()),
            "mean_abs": float(np.abs(e).mean()),
            "max_abs": float(np.abs(e).max()),
        }
    row["tunecli_ms_per_image"] = ms
    row["denoiser_ms_per_image"] = denoiser_ms
    row["share_of_denoiser"] = ms / denoiser_ms if denoiser_ms else None
    return row


def denoiser_ms(restorer: Restorer, image: np.ndarray, sigma: float) -> float:
    """Milliseconds the denoiser takes on ``image`` at the alpha matching ``sigma``, run as the
    CLI runs it (its default tile), its network baked beforehand."""
    omega = restorer.parse_alpha(denoise.alpha_of_sigma(sigma)).omega
    restorer.baked(omega)
    began = time.perf_counter()
    restorer.run(image, alpha=omega)
    return 1000 * (time.perf_counter() - began)


def psnr_at(restorer: Restorer, noisy: np.ndarray, clean: np.ndarray, alpha: float | tuple[float, ...]) -> float:
    return psnr(quantize_8bit(restorer.run(noisy, alpha=alpha, tile=0)), clean)


def run_sets(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    baseline = wavelet_mad()
    wanted = args.psnr_limit or args.denoiser_time
    restorer = load(args.model, device=args.device, precision="fp32") if wanted else None
    grid = [round(a, 6) for a in np.arange(0.0, 1.0 + 1e-9, args.grid_step)]
    estimation: list[dict[str, Any]] = []
    end_to_end: list[dict[str, Any]] = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])
        images = load_clean_images(files[: args.limit] if args.limit else files)
        denoiser_times: list[float] = []  # per image, on its first noisy version
        for kind in args.noise.split(","):
            for sigma in (float(s) for s in args.sigmas.split(",")):
                errors: dict[str, list[float]] = {"tunecli": []} | ({"skimage": []} if baseline else {})
                seconds = 0.0
                scores: dict[str, list[float]] = {
                    "auto": [],
                    "best": [],
                    "matching": [],
                    "auto_alpha": [],
                    "best_alpha": [],
                }
                for index, clean in enumerate(images):
                    noisy = seeded_awgn(clean, sigma, SEED, index, quantized=kind == "8bit")
                    began = time.perf_counter()
                    estimate = estimate_noise_sigma(noisy)
                    seconds += time.perf_counter() - began
                    errors["tunecli"].append(estimate - sigma)
                    if restorer is not None and args.denoiser_time and len(denoiser_times) == index:
                        denoiser_times.append(denoiser_ms(restorer, noisy, sigma))
                    if baseline:
                        errors["skimage"].append(baseline(noisy) - sigma)
                    if restorer is None or index >= args.psnr_limit:
                        continue
                    chosen = restorer.auto_alpha(noisy)
                    on_grid = [psnr_at(restorer, noisy, clean, a) for a in grid]
                    scores["auto"].append(psnr_at(restorer, noisy, clean, chosen.omega))
                    scores["best"].append(max(on_grid))
                    scores["best_alpha"].append(grid[int(np.argmax(on_grid))])
                    scores["auto_alpha"].append(chosen.omega[1])
                    scores["matching"].append(psnr_at(restorer, noisy, clean, denoise.alpha_of_sigma(sigma)))
                timed = float(np.mean(denoiser_times)) if denoiser_times else None
                row = estimation_row(name, kind, sigma, errors, 1000 * seconds / len(images), timed)
                estimation.append(row)
                print(f"# {name} {kind} σ {sigma:g}: tunecli bias {row['tunecli']['bias']:+.2f}", flush=True)
                if scores["auto"]:
                    means = {key: float(np.mean(values)) for key, values in scores.items()}
                    gaps = np.asarray(scores["best"]) - np.asarray(scores["auto"])
                    end_to_end.append(
                        {
                            "set": name,
                            "noise": kind,
                            "sigma": sigma,
                            "images": len(scores["auto"]),
                            **means,
                            "gap_mean": float(gaps.mean()),
                            "gap_max": float(gaps.max()),
                        }
                    )
    return estimation, end_to_end


def print_estimation(rows: list[dict[str, Any]]) -> None:
    methods = [m for m in ("tunecli", "skimage") if rows and m in rows[0]]
    head = "".join(f" {m} bias | {m} std | {m} mean abs | {m} max abs |" for m in methods)
    print("| set | noise | σ | images |" + head + " tunecli ms/image | denoiser ms/image | estimate / denoiser |")
    print("|---|---|---|---|" + "---|" * (4 * len(methods) + 3))
    for r in rows:
        cells = "".join(
            f" {r[m]['bias']:+.2f} | {r[m]['std']:.2f} | {r[m]['mean_abs']:.2f} | {r[m]['max_abs']:.2f} |"
            for m in methods
        )
        timed = r.get("denoiser_ms_per_image")
        timing = f"{timed:.0f} | {r['share_of_denoiser']:.0%}" if timed else "– | –"
        print(
            f"| {r['set']} | {r['noise']} | {r['sigma']:g} | {r['images']} |{cells} "
            f"{r['tunecli_ms_per_image']:.0f} | {timing} |"
        )
    shares = [r["share_of_denoiser"] for r in rows if r.get("share_of_denoiser") is not None]
    if shares:
        estimate_ms = sum(r["tunecli_ms_per_image"] * r["images"] for r in rows if r.get("share_of_denoiser"))
        den_ms = sum(r["denoiser_ms_per_image"] * r["images"] for r in rows if r.get("share_of_denoiser"))
        print(
            f"\nEstimate / denoiser time: {estimate_ms / den_ms:.0%} over all rows "
            f"({min(shares):.0%}–{max(shares):.0%} per row; target: at most 15 %)"
        )


def print_end_to_end(rows: list[dict[str, Any]], step: float) -> None:
    print(
        f"| set | noise | σ | images | auto α | PSNR auto | best α (grid {step:g}) | PSNR best | best − auto | worst | PSNR matching α |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['noise']} | {r['sigma']:g} | {r['images']} | {r['auto_alpha']:.2f} | {r['auto']:.2f} | "
            f"{r['best_alpha']:.2f} | {r['best']:.2f} | {r['gap_mean']:+.3f} | {r['gap_max']:+.3f} | {r['matching']:.2f} |"
        )
    if rows:
        weights = np.asarray([r["images"] for r in rows], dtype=float)
        mean_gap = float(np.average([r["gap_mean"] for r in rows], weights=weights))
        print(f"\nMean gap best − auto over all rows: {mean_gap:.3f} dB (target: at most 0.1 dB)")


def run_gallery(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """RNI15: estimates and one sheet of auto − 0.2 / auto / auto + 0.2 per photo."""
    from tunecli.gallery.grid import AlphaCell, build_grid, prepare_row
    from tunecli.imageio import read_image

    baseline = wavelet_mad()
    restorer = load(args.model, device=args.device, precision="fp32")
    files = list_images([args.data / "test" / "RNI15"])
    files = files[: args.rni15_limit] if args.rni15_limit else files
    rows, sheet_rows = [], []
    offsets = (-0.2, 0.0, 0.2)
    for path in files:
        image = read_image(path)
        chosen = restorer.auto_alpha(image, str(path))
        alpha = chosen.omega[1]
        outputs = [
            restorer.restore(image, (1 - a, a), tile=0).image.pixels
            for a in (min(1.0, max(0.0, alpha + d)) for d in offsets)
        ]
        sheet_rows.append(prepare_row(f"{path.stem} σ≈{chosen.sigma:.1f}", image.pixels, outputs))
        rows.append(
            {
                "image": path.name,
                "sigma": chosen.sigma,
                "skimage_sigma": baseline(image.pixels) if baseline else None,
                "alpha": alpha,
            }
        )
        print(f"# RNI15 {path.name}: σ ≈ {chosen.sigma:.1f} → alpha {alpha:.2f}", flush=True)
    cells = [AlphaCell((), f"auto{d:+.1f}", (f"auto {d:+.1f}" if d else "auto",)) for d in offsets]
    folder.mkdir(parents=True, exist_ok=True)
    build_grid(sheet_rows, cells, title=f"RNI15, {args.model}, --alpha auto").save(folder / "rni15_auto.png")
    print(f"\nwrote {folder / 'rni15_auto.png'}\n")
    print("| photo | tunecli σ | skimage σ | auto alpha |")
    print("|---|---|---|---|")
    for r in rows:
        sk = f"{r['skimage_sigma']:.1f}" if r["skimage_sigma"] is not None else "–"
        print(f"| {r['image']} | {r['sigma']:.1f} | {sk} | {r['alpha']:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder (holds test/CBSD68, test/McMaster, test/RNI15)")
    parser.add_argument("--sets", default="CBSD68,McMaster")
    parser.add_argument("--sigmas", default="5,10,15,20,25,30,40,50")
    parser.add_argument("--noise", default="float,8bit")
    parser.add_argument("--limit", type=int, default=0, help="first N images of each set (0 = all)")
    parser.add_argument("--psnr-limit", type=int, default=8, help="end-to-end PSNR on the first N of those (0 = off)")
    parser.add_argument("--grid-step", type=float, default=0.05, help="alpha grid of the best-alpha search")
    parser.add_argument("--model", default=default_models()["denoise"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gallery", type=Path, help="also restore RNI15 at auto ± 0.2 and write a sheet here")
    parser.add_argument("--rni15-limit", type=int, default=0, help="first N photos of RNI15 (0 = all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-denoiser-time",
        dest="denoiser_time",
        action="store_false",
        help="do not time the denoiser on each image (the estimate / denoiser column)",
    )
    parser.add_argument("--json", type=Path, help="also write all rows here")
    args = parser.parse_args()
    if args.limit:
        args.psnr_limit = min(args.psnr_limit, args.limit)

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    estimation, end_to_end = run_sets(args)
    print(f"\nMachine: {describe_host()}; noise seed {SEED}; {time.perf_counter() - began:.0f} s\n")
    print("Estimation error (estimate − σ, 0–255 scale):\n")
    print_estimation(estimation)
    if end_to_end:
        print(f"\nEnd to end, {args.model} (PSNR on 8-bit outputs, dB):\n")
        print_end_to_end(end_to_end, args.grid_step)
    gallery = run_gallery(args, args.gallery) if args.gallery else []
    if args.json:
        args.json.write_text(
            json.dumps({"estimation": estimation, "end_to_end": end_to_end, "rni15": gallery}, indent=1)
        )


if __name__ == "__main__":
    main()
