"""Benchmark: ``--engine ray`` against the local runner on the same folder.

Writes ``--images`` generated photos-like PNGs of ``--size``² pixels (512² ≈ 0.25 MP), restores
them with the local runner (with one reader and one writer thread, as before issue 31, and with
one per core) and with the Ray engine on a local Ray instance started for the run (its start
and shutdown are counted), and prints images/s and the ratio to the local time. It also prints
the median per-image decode, compute and encode seconds that the README's cluster plan uses.

    python bench/ray_throughput.py --images 200 --size 512 --model denoise-unet
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

import tunecli.runner as runner
from tunecli.api import load
from tunecli.imageio import DEFAULT_MAX_PIXELS, read_image, write_image
from tunecli.models import find_model
from tunecli.ray_engine import RayOptions, run_batch_ray
from tunecli.tasks import default_models


def make_folder(folder: Path, count: int, size: int) -> None:
    """Smooth random scenes plus noise: PNGs about as hard to code as photos."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for index in range(count):
        coarse = rng.uniform(0, 255, (size // 32 + 1, size // 32 + 1, 3)).astype(np.uint8)
        scene = np.asarray(PILImage.fromarray(coarse).resize((size, size), PILImage.BICUBIC), dtype=np.float32)
        noisy = np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
        PILImage.fromarray(noisy).save(folder / f"{index:04d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_models()["denoise"])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--alpha", default="0.5")
    parser.add_argument("--workers", type=int, default=None, help="Ray actors (default: the engine's)")
    parser.add_argument("--samples", type=int, default=5, help="images timed step by step")
    args = parser.parse_args()

    info = find_model(args.model)
    restorer = load(info.path, device="cpu")
    omega = restorer.alpha_space.parse(args.alpha).omega
    label = restorer.alpha_space.label(omega)
    cores = os.cpu_count() or 1
    print(f"# {platform.processor() or platform.machine()}, {cores} cores, load {os.getloadavg()[0]:.1f}")
    print(f"# {args.images} images of {args.size}x{args.size}, model {info.name}, alpha {label}")

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        inputs = root / "in"
        make_folder(inputs, args.images, args.size)

        steps: dict[str, list[float]] = {"decode": [], "compute": [], "encode": []}
        for source in sorted(inputs.iterdir())[: args.samples]:
            began = time.perf_counter()
            image = read_image(source)
            decoded = time.perf_counter()
            restored = restorer.restore(image, omega)
            computed = time.perf_counter()
            write_image(root / "steps" / source.name, restored.image, overwrite=True)
            encoded = time.perf_counter()
            steps["decode"].append(decoded - began)
            steps["compute"].append(computed - decoded)
            steps["encode"].append(encoded - computed)
        print("\n| step (one image) | median s |\n|---|---:|")
        for name, values in steps.items():
            print(f"| {name} | {statistics.median(values):.4f} |")

        def plan(name: str) -> runner.Plan:
            return runner.plan_jobs(
                [inputs], task=info.task, label=label, options=runner.OutputOptions(output=root / name)
            )

        def local(name: str) -> float:
            began = time.perf_counter()
            runner.run_batch(restorer, plan(name), omega, options=runner.OutputOptions())
            return time.perf_counter() - began

        def on_ray(name: str) -> float:
            began = time.perf_counter()
            run_batch_ray(
                info.path,
                {"device": "cpu"},
                plan(name),
                omega,
                options=runner.OutputOptions(),
                engine=RayOptions(workers=args.workers),
                max_pixels=DEFAULT_MAX_PIXELS,
            )
            return time.perf_counter() - began

        rows: list[tuple[str, float]] = []
        real_threads = runner.io_threads
        runner.io_threads = lambda: 1  # the runner before issue 31: one reader, one writer
        rows.append(("local, 1 reader + 1 writer", local("one")))
        runner.io_threads = real_threads
        rows.append((f"local, {cores} readers + {cores} writers", local("local")))
        rows.append(("ray (local instance, start + stop counted)", on_ray("ray")))
        same = all(
            (root / "local" / name).read_bytes() == (root / "ray" / name).read_bytes()
            for name in os.listdir(root / "local")
        )
        local_time = rows[1][1]
        print("\n| runner | seconds | images/s | × local |\n|---|---:|---:|---:|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} | {args.images / seconds:.2f} | {seconds / local_time:.2f} |")
        print(f"\n# ray outputs byte-identical to the local runner's: {same}")


if __name__ == "__main__":
    main()
