"""Benchmark: training throughput of one architecture under ``--omega-groups`` and ``--precision``.

Each setting runs ``tunecli train``'s own optimizer step (:func:`tunecli.training.loop.optimizer_step`)
on random clean patches degraded as training degrades them, and prints steps per second,
megapixels per second and the ratio to the first setting. Data loading is left out (in
``tunecli train`` background threads cut the patches while the step runs). Run it alone:
another job on the same cores changes every number.

    python bench/train_speed.py --hparams '{"widths": [32, 64, 128, 256], "blocks": [1, 1, 1, 2]}' \\
        --batch 16 --patch 128 --settings 0:fp32,2:fp32,2:bf16
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from tunecli.archs import build_arch
from tunecli.tasks import denoise, get_task
from tunecli.training.loop import TrainConfig, optimizer_step, sample_grouped_omega


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="unet")
    parser.add_argument(
        "--hparams", default="{}", help="JSON hyper-parameters, as `tunecli train --hparams` takes them"
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument(
        "--settings",
        default="0:fp32,2:fp32,2:bf16",
        help="comma-separated GROUPS:PRECISION (GROUPS as --omega-groups: 0 = one ω per sample)",
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting, after 3 untimed")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    space = denoise.alpha_space()
    task = get_task("denoise")
    hparams = {"p": space.p, **json.loads(args.hparams)}
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(args.batch, 3, args.patch, args.patch, generator=generator)
    megapixels = args.batch * args.patch * args.patch / 1e6

    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.arch} {json.dumps(json.loads(args.hparams))}, batch {args.batch}, {args.patch} px patches, CPU.\n")
    print("| --omega-groups | --precision | steps/s | megapixels/s | × first |")
    print("|---|---|---|---|---|")
    first = None
    for setting in args.settings.split(","):
        groups_text, precision = setting.split(":")
        groups = int(groups_text)
        config = TrainConfig(
            task="denoise", data=[], out="x.safetensors", batch=args.batch, omega_groups=groups, precision=precision
        )
        torch.manual_seed(0)
        net = build_arch(args.arch, hparams).train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.9, 0.9))
        recipe = task.recipe(config, torch.device("cpu"))

        def step(
            net: torch.nn.Module = net,
            optimizer: torch.optim.Optimizer = optimizer,
            config: TrainConfig = config,
            recipe: object = recipe,
        ) -> None:
            omega = sample_grouped_omega(space, args.batch, config.omega_groups, config.corner_share, generator)
            batch = task.make_batch(clean, omega, generator, config, recipe)
            optimizer_step(net, optimizer, batch, recipe, config, config.omega_groups)

        for _ in range(3):
            step()
        began = time.perf_counter()
        for _ in range(args.steps):
            step()
        rate = args.steps / (time.perf_counter() - began)
        first = first or rate
        print(f"| {groups} | {precision} | {rate:.2f} | {rate * megapixels:.3f} | {rate / first:.2f} |", flush=True)


if __name__ == "__main__":
    main()
