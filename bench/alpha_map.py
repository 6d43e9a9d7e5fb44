"""Benchmark: per-pixel alpha (``--alpha-map``), fast mode against exact mode, and their cost.

For the first ``--limit`` images of a set, seeded 8-bit AWGN of ``--sigma``, and two maps —
*radial* (alpha 0 at the centre rising to 1 at the corners: gentle on the subject, strong on
the surroundings) and *split* (the left half 0.1, the right half 0.9: a painted mask's hard
edge) — the denoiser runs in exact mode (per-pixel ω in every tunable convolution) and in fast
mode (``levels`` uniform runs blended per pixel). Printed: the mean and 99th-percentile
absolute difference of fast to exact on the 0–255 scale, the PSNR of both to the clean image,
and seconds per megapixel of each mode and of one uniform run (run it alone: another job on
the same cores changes the times, not the errors).

    python bench/alpha_map.py DATA_DIR --set CBSD68 --limit 4 --sigma 25
    python bench/alpha_map.py DATA_DIR --limit 0 --demo bench/results/alpha_map_demo.png

``--demo FILE``: a sheet for the README from scikit-image's "astronaut" (public domain, NASA)
with seeded σ 25 noise: gentle everywhere (alpha 0.1), strong everywhere (0.9), and a radial
map (0.1 at the centre, the face, rising to 0.9 at the corners) in exact and fast mode.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tunecli.api import load
from tunecli.degradations.noise import seeded_awgn
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.training.data import list_images


def radial_map(height: int, width: int) -> np.ndarray:
    """0 at the centre, 1 at the corners, growing with the distance."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot((ys - (height - 1) / 2) / (height / 2), (xs - (width - 1) / 2) / (width / 2))
    return np.clip(distance / np.sqrt(2), 0, 1).astype(np.float32)


def split_map(height: int, width: int) -> np.ndarray:
    """0.1 on the left half, 0.9 on the right."""
    alpha_map = np.full((height, width), 0.1, np.float32)
    alpha_map[:, width // 2 :] = 0.9
    return alpha_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="denoise-unet-l4")
    parser.add_argument("--set", default="CBSD68")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--levels", default="3,5", help="fast-mode levels to try")
    parser.add_argument("--demo", type=Path, help="also write the README's sheet here")
    args = parser.parse_args()
    if args.demo:
        write_demo(args.model, args.demo)
        if not args.limit:
            return

    restorer = load(args.model, device="cpu", precision="fp32")
    images = load_clean_images(list_images([args.data / "test" / args.set])[: args.limit])
    levels = [int(v) for v in args.levels.split(",")]
    print(f"Machine: {describe_host()}")
    print(f"Model {args.model}; first {args.limit} of {args.set}; 8-bit AWGN sigma {args.sigma:g}\n")
    print("| map | mode | PSNR (dB) | mean abs diff to exact (0-255) | p99 abs diff | s/MP |")
    print("|---|---|---|---|---|---|")
    for map_name, make in (("radial", radial_map), ("split", split_map)):
        rows: dict[str, dict[str, list[float]]] = {}
        for i, clean in enumerate(images):
            noisy = seeded_awgn(clean, args.sigma, 0, i, quantized=True)
            h, w = clean.shape[:2]
            megapixels = h * w / 1e6
            alpha_map = make(h, w)
            image = _image(noisy)
            restorer.run(noisy[:64, :64], alpha=0.5, tile="auto")  # warm-up
            mean_alpha = float(alpha_map.mean())
            began = time.perf_counter()
            uniform = restorer.run(noisy, alpha=mean_alpha, tile="auto")
            t_uniform = time.perf_counter() - began
            results = {"uniform at the map's mean": (quantize_8bit(uniform), t_uniform)}
            for mode, k in [("exact", 0), *((f"fast, {k} levels", k) for k in levels)]:
                began = time.perf_counter()
                if k:
                    out = restorer.restore_map(image, alpha_map, mode="fast", levels=k).image.pixels
                else:
                    out = restorer.restore_map(image, alpha_map, mode="exact").image.pixels
                results[mode] = (quantize_8bit(out), time.perf_counter() - began)
            exact8 = results["exact"][0]
            for mode, (out, seconds) in results.items():
                diff = np.abs(out - exact8) * 255
                row = rows.setdefault(mode, {"psnr": [], "mean": [], "p99": [], "spm": []})
                row["psnr"].append(psnr(out, clean))
                row["mean"].append(float(diff.mean()))
                row["p99"].append(float(np.percentile(diff, 99)))
                row["spm"].append(seconds / megapixels)
        for mode, row in rows.items():
            print(
                f"| {map_name} | {mode} | {np.mean(row['psnr']):.2f} | {np.mean(row['mean']):.3f} | "
                f"{np.mean(row['p99']):.2f} | {np.mean(row['spm']):.2f} |"
            )


def write_demo(model: str, path: Path) -> None:
    """The README sheet: noisy astronaut, uniform 0.1 and 0.9, radial map exact and fast."""
    from skimage import data

    from tunecli.gallery.grid import AlphaCell, build_grid, prepare_row

    restorer = load(model, device="cpu", precision="fp32")
    clean = data.astronaut()[:384, 64:448].astype(np.float32) / 255
    noisy = seeded_awgn(clean, 25.0, 0, 0, quantized=True)
    h, w = clean.shape[:2]
    radial = 0.1 + 0.8 * radial_map(h, w)
    outputs = [
        restorer.run(noisy, alpha=0.1, tile=0),
        restorer.run(noisy, alpha=0.9, tile=0),
        np.repeat(radial[:, :, None], 3, axis=2),
        restorer.run(noisy, alpha_map=radial, tile=0),
        restorer.run(noisy, alpha_map=radial, alpha_map_mode="fast", tile=0),
    ]
    labels = [
        ("alpha 0.1",),
        ("alpha 0.9",),
        ("the map", "0.1 … 0.9"),
        ("--alpha-map", "exact"),
        ("--alpha-map", "fast"),
    ]
    cells = [AlphaCell((), f"c{i}", lines) for i, lines in enumerate(labels)]
    row = prepare_row("astronaut σ 25", noisy, [np.clip(o, 0, 1) for o in outputs])
    path.parent.mkdir(parents=True, exist_ok=True)
    build_grid([row], cells, title=f"{model}: alpha per pixel from a radial map").save(path)
    print(f"wrote {path}")


def _image(pixels: np.ndarray):  # type: ignore[no-untyped-def]
    from tunecli.imageio import Image, ImageMeta

    return Image(pixels=pixels, alpha=None, meta=ImageMeta(format="png", dtype="uint8", mode="RGB"))


if __name__ == "__main__":
    main()
