"""Benchmark: the tunable style model at its corners against single-style models of the same
size and budget, the style losses along an edge of its simplex, and its speed.

The paper's claim: one tunable network trained on the p-objective simplex loses little at the
corners against p networks each trained for one objective. The single-style twins are the same
network trained with the same command and steps but every sample at one corner
(``tunecli train style ... --fixed-alpha starry=1``). Every loss is the training's own
(:meth:`tunecli.tasks.style.StyleTask.evaluate`, through ``tunecli eval``'s code): content =
relu2_1 feature MSE to the photo, style = Gram distance to each painting at scales 1 and 0.5 —
on photos the training never saw (``test/StyleContent``, resized so the longer side is
``--side`` px).

    python bench/style_corners.py DATA_DIR --model runs/style-mix.safetensors \\
        --twin starry=runs/style-only-starry.safetensors --twin wave=runs/style-only-wave.safetensors \\
        --features DATA_DIR/weights/vgg19_normalised_wct --style starry=…/starry_night.jpg …

Speed: megapixels per second on a 1000×1000 photo at one mix (baked, fp32 and the model's
best precision on this CPU), median of 3 after a warm-up. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tunecli.api import load
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.tasks import EvalOptions, get_task
from tunecli.training.data import list_images


def resized(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` with its longer side ``side`` px (a multiple of 4 each way)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(4, round(h * scale / 4) * 4), max(4, round(w * scale / 4) * 4))
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    out = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp(0, 1).numpy().transpose(1, 2, 0)


def corner(names: list[str], name: str) -> str:
    return ",".join(f"{n}={1 if n == name else 0}" for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="style-mix")
    parser.add_argument("--twin", action="append", default=[], help="NAME=CHECKPOINT: a single-style model")
    parser.add_argument("--features", required=True)
    parser.add_argument("--style", action="append", default=[], help="the paintings, one per axis, in axis order")
    parser.add_argument("--content", default="StyleContent")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--edge", default="", help="A,B: the edge to sweep (default: the first two axes)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    task = get_task("style")
    model = load(args.model, device="cpu", precision="fp32")
    names = list(model.alpha_space.names)
    photos = [resized(img, args.side) for img in load_clean_images(list_images([args.data / "test" / args.content]))]
    options = dict(task_options={"features": args.features, "styles": args.style}, tile=0)
    print(f"Machine: {describe_host()}")
    print(
        f"{len(photos)} photos of {args.content}, longer side {args.side} px; model {args.model} ({', '.join(names)})\n"
    )

    rows = []
    print("| corner | model | content loss | style loss to its painting |")
    print("|---|---|---|---|")
    for spec in args.twin:
        name, _, path = spec.partition("=")
        alpha = corner(names, name)
        mixed = task.evaluate(model, photos, EvalOptions(alphas=[alpha], **options)).rows[0]
        twin = load(path, device="cpu", precision="fp32")
        single = task.evaluate(twin, photos, EvalOptions(alphas=[alpha], **options)).rows[0]
        for label, row in ((f"tunable (p = {len(names)})", mixed), ("single-style twin", single)):
            print(f"| {name} | {label} | {row['content']:.4f} | {row[f'style_{name}']:.4g} |")
            rows.append({"corner": name, "model": label, **row})

    a, b = args.edge.split(",") if args.edge else names[:2]
    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    alphas = [f"{a}={1 - t:g},{b}={t:g}" for t in steps]
    edge = task.evaluate(model, photos, EvalOptions(alphas=alphas, **options)).rows
    print(f"\nAlong the edge {a} → {b}:\n")
    print(f"| alpha | content loss | style loss {a} | style loss {b} |")
    print("|---|---|---|---|")
    for row in edge:
        print(f"| {row['alpha']} | {row['content']:.4f} | {row[f'style_{a}']:.4g} | {row[f'style_{b}']:.4g} |")
    to_a = [row[f"style_{a}"] for row in edge]
    to_b = [row[f"style_{b}"] for row in edge]
    monotonic = all(x <= y for x, y in pairwise(to_a)) and all(x >= y for x, y in pairwise(to_b))
    print(f"\nmonotonic along the edge: {'yes' if monotonic else 'no'}")

    photo = np.random.default_rng(0).random((1000, 1000, 3), dtype=np.float32)
    speeds = {}
    for precision in ("fp32", "bf16"):
        restorer = load(args.model, device="cpu", precision=precision)
        restorer.run(photo, alpha=None, tile=0)
        times = []
        for _ in range(3):
            began = time.perf_counter()
            restorer.run(photo, alpha=None, tile=0)
            times.append(time.perf_counter() - began)
        speeds[precision] = 1.0 / float(np.median(times))
    print("\nSpeed, 1000×1000 photo, whole image, CPU: " + ", ".join(f"{p} {v:.2f} MP/s" for p, v in speeds.items()))
    if args.json:
        args.json.write_text(
            json.dumps({"corners": rows, "edge": edge, "monotonic": monotonic, "mp_per_s": speeds}, indent=1)
        )


if __name__ == "__main__":
    main()
