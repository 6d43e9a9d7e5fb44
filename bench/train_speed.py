"""Benchmark: training throughput of one architecture under ``--omega-groups`` and ``--precision``.

Each setting runs ``tunecli train``'s own optimizer step (:func:`tunecli.training.loop.optimizer_step`)
on random clean patches made into a batch as the ``--task`` makes them (its degradation, its
objectives; upscale and style need ``--features``), and prints steps per second,
megapixels per second and the ratio to the first setting. Data loading is left out (in
``tunecli train`` background threads cut the patches while the step runs). Run it alone:
another job on the same cores changes every number.

    python bench/train_speed.py --hparams '{"widths": [32, 64, 128, 256], "blocks": [1, 1, 1, 2]}' \\
        --batch 16 --patch 128 --settings 0:fp32,2:fp32,2:bf16
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from tunecli.archs import build_arch
from tunecli.device import describe_host
from tunecli.tasks import get_task
from tunecli.training.loop import TrainConfig, optimizer_step, sample_grouped_omega


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--arch", default=None, help="default: the task's")
    parser.add_argument("--features", default=None, help="VGG-19 file or folder (upscale, style)")
    parser.add_argument("--style", action="append", default=[], help="a painting per axis (style)")
    parser.add_argument("--scale", type=int, default=None, help="upscale factor (upscale)")
    parser.add_argument("--fixed-alpha", default=None, help="every sample at this alpha, as tunecli train's")
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

    task = get_task(args.task)
    arch = args.arch or task.default_arch
    declared = {option.name for option in task.train_options}
    given = {"features": args.features, "styles": args.style, "scale": args.scale}
    own = {name: value for name, value in given.items() if value and name in declared}
    probe = TrainConfig(task=task.name, data=[], out="x.safetensors", arch=arch, patch=args.patch, task_options=own)
    space = task.alpha_space(probe)
    recipe = task.recipe(probe, torch.device("cpu"))
    hparams = {"p": space.p, **task.arch_defaults(probe), **json.loads(args.hparams), **task.arch_hparams(probe)}
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(args.batch, 3, recipe.crop, recipe.crop, generator=generator)
    megapixels = args.batch * recipe.crop * recipe.crop / 1e6
    fixed = space.parse(args.fixed_alpha).omega if args.fixed_alpha is not None else None

    print(f"Machine: {describe_host()}")
    print(
        f"{task.name}: {arch} {json.dumps(json.loads(args.hparams))}, batch {args.batch}, {args.patch} px patches, CPU.\n"
    )
    print("| --omega-groups | --precision | steps/s | megapixels/s | × first |")
    print("|---|---|---|---|---|")
    first = None
    for setting in args.settings.split(","):
        groups_text, precision = setting.split(":")
        groups = int(groups_text)
        config = TrainConfig(
            task=task.name, data=[], out="x.safetensors", batch=args.batch, omega_groups=groups, precision=precision
        )
        torch.manual_seed(0)
        net = build_arch(arch, hparams).train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.9, 0.9))
        adversary = None
        if recipe.adversarial and fixed is None:
            from tunecli.losses.adversarial import PatchDiscriminator
            from tunecli.training.loop import Adversary

            discriminator = PatchDiscriminator(**recipe.discriminator)
            adversary = Adversary(discriminator, torch.optim.AdamW(discriminator.parameters(), lr=1e-4))

        def step(
            net: torch.nn.Module = net,
            optimizer: torch.optim.Optimizer = optimizer,
            config: TrainConfig = config,
            recipe: object = recipe,
            adversary: object = adversary,
        ) -> None:
            if fixed is None:
                omega = sample_grouped_omega(space, args.batch, config.omega_groups, config.corner_share, generator)
            else:
                omega = torch.tensor(fixed).expand(args.batch, space.p)
            batch = task.make_batch(clean, omega, generator, config, recipe)
            optimizer_step(net, optimizer, batch, recipe, config, 1 if fixed else config.omega_groups, adversary)

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
