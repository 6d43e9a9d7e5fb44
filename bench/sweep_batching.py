"""Benchmark: how a sweep should run its alphas — baked one by one, or batched per sample.

A sweep of K alphas can (a) bake each alpha (mix kernels once) and run a plain network K
times, or (b) stack K copies of the image and run the tunable network once with a per-sample
ω (grouped convolutions). This prints seconds for both and their ratio, so the choice made in
``tunecli.gallery.sweep`` (baking) is checked, not assumed.

    python bench/sweep_batching.py --model denoise-unet-l4 --alphas 7 --size 256
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch

from tunecli.layers import bake
from tunecli.models import load_model
from tunecli.tasks import default_models


def best_of(runs: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_models()["denoise"])
    parser.add_argument("--alphas", type=int, default=7)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    net = load_model(args.model).module
    x = torch.rand(1, 3, args.size, args.size)
    alphas = torch.linspace(0, 1, args.alphas)
    omegas = torch.stack([1 - alphas, alphas], dim=1)

    def baked_one_by_one() -> None:
        with torch.no_grad():
            for omega in omegas:
                bake(net, omega)(x)

    def batched_per_sample() -> None:
        with torch.no_grad():
            net(x.expand(len(omegas), -1, -1, -1).contiguous(), omegas)

    with torch.no_grad():  # both strategies compute the same images
        batched = net(x.expand(len(omegas), -1, -1, -1).contiguous(), omegas)
        for i, omega in enumerate(omegas):
            torch.testing.assert_close(batched[i : i + 1], bake(net, omega)(x), atol=1e-4, rtol=1e-4)

    a = best_of(args.runs, baked_one_by_one)
    b = best_of(args.runs, batched_per_sample)
    print(f"machine: {platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print(f"{args.alphas} alphas on a {args.size}x{args.size} image with {args.model}")
    print(f"baked one by one:     {a:.3f} s")
    print(f"batched per sample:   {b:.3f} s")
    print(f"ratio batched/baked:  {b / a:.2f}  (> 1: baking is faster)")


if __name__ == "__main__":
    main()
