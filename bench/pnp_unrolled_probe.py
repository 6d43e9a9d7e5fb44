"""Does fine-tuning the prior *through* HQS help ``deblur --kernel``? A feasibility probe, not a
way to make a shipped model (shipped checkpoints come from ``tunecli train`` only).

Fine-tunes a copy of a denoiser (default ``denoise-unet-l4``) by back-propagating through all the
iterations of the HQS of ``tunecli.pnp`` (DPIR's schedule for the sample's noise level) on 128-px
training crops blurred circularly by the deblur task's random kernels (strength 0.15–1) with
noise σ 0–20 (half saved to 8 bits), the loss the MSE of the last estimate against the sharp
crop; then scores ``--kernel`` with the fine-tuned and with the original prior on the probe of
``docs/models.md`` (the first image of CBSD68 and of McMaster × Levin's 8 kernels, 256-px 'valid'
crops, seeded noise) at each σ given.

    python bench/pnp_unrolled_probe.py DATA_DIR --steps 300 --lr 1e-5 --sigmas 2.55,7.65,15

Each step runs the network 8 times forward and back on 4 crops (bf16 autocast on the CPU).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import deblur_baselines as baselines
import numpy as np
import torch
from torch import Tensor

from tunecli.api import load
from tunecli.degradations.blur import blur, kernel_batch
from tunecli.degradations.kernel_files import read_kernels
from tunecli.degradations.noise import awgn_batch
from tunecli.device import describe_host
from tunecli.evaluation.evaluate import load_clean_images
from tunecli.evaluation.metrics import psnr, quantize_8bit
from tunecli.pnp.deblur import deblur_with_kernel
from tunecli.pnp.hqs import dpir_schedule
from tunecli.pnp.physics import BlurOperator
from tunecli.pnp.prior import ALPHA_STEP, DenoiserPrior
from tunecli.tasks.denoise import alpha_of_sigma
from tunecli.training.data import list_images, read_rgb8, sample_batch

CROPS, PATCH, WARMUP = 4, 128, 30


def omega(sigma: float) -> Tensor:
    """The denoiser's ω for a noise level (0–255), alpha rounded as :class:`DenoiserPrior` rounds it."""
    alpha = round(round(alpha_of_sigma(sigma) / ALPHA_STEP) * ALPHA_STEP, 6)
    return torch.tensor([1.0 - alpha, alpha])


def fine_tune(net: torch.nn.Module, images: list[np.ndarray], steps: int, lr: float) -> None:
    """Unrolled HQS fine-tuning of ``net`` in place (see the module docstring): the crops are
    blurred circularly (:func:`blur`) and each data step is the exact periodic solution of the
    project's operator (:meth:`BlurOperator.prox` with ``pad=0``)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    net.train()
    began = time.monotonic()
    for step in range(steps):
        clean = torch.from_numpy(sample_batch(images, CROPS, PATCH, 2, step))
        noise = 20.0 * float(torch.rand(1, generator=generator))
        schedule = dpir_schedule(noise)
        kernels = kernel_batch(0.15 + 0.85 * torch.rand(CROPS, generator=generator), generator)
        operators = [BlurOperator(kernel, PATCH, PATCH, pad=0) for kernel in kernels]
        quantized = torch.rand(CROPS, generator=generator) < 0.5
        observed = awgn_batch(
            blur(clean, kernels, boundary="circular"), torch.full((CROPS,), noise), generator, quantized
        )
        estimate = observed
        for rho, sigma in zip(schedule.rhos, schedule.sigmas, strict=True):
            x = torch.stack([op.prox(e, y, rho) for op, e, y in zip(operators, estimate, observed, strict=True)])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                estimate = net(x.clamp(0, 1), omega(sigma)).float()
        decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / WARMUP) * decay
        loss = torch.mean((estimate - clean) ** 2)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        optimizer.step()
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) / (time.monotonic() - began)
            print(f"step {step + 1}/{steps} loss {loss.item():.6f} {rate:.2f} steps/s", flush=True)
    net.eval()


def probe(model: str, state: dict[str, Tensor] | None, data: Path, sigma: float) -> float:
    """Mean PSNR (8-bit RGB) of ``--kernel`` at its default alpha and the true σ on the probe."""
    restorer = load(model, device="cpu", precision="fp32")
    if state is not None:
        restorer.model.module.load_state_dict(state)
    prior = DenoiserPrior(restorer)
    images = []
    for name in ("CBSD68", "McMaster"):
        images += load_clean_images(sorted(list_images([data / "test" / name]))[:1])
    kernels = read_kernels(data / "kernels" / "KAIR" / "Levin09.mat")
    scores = []
    for clean, degraded, kernel in baselines.make_cases(images, kernels, sigma, 0, 256, "valid"):
        restored = deblur_with_kernel(degraded, kernel, prior, schedule=dpir_schedule(sigma))
        scores.append(psnr(quantize_8bit(restored), clean))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the data folder (train/BSDS500_*, test/CBSD68, kernels/KAIR)")
    parser.add_argument("--model", default="denoise-unet-l4")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--sigmas", default="2.55,7.65,15")
    args = parser.parse_args()
    files = list_images([args.data / "train" / "BSDS500_train", args.data / "train" / "BSDS500_test"])
    net = load(args.model, device="cpu", precision="fp32").model.module
    fine_tune(net, [read_rgb8(f) for f in files], args.steps, args.lr)
    tuned = {k: v.detach().clone() for k, v in net.state_dict().items()}
    print(f"machine: {describe_host()}")
    print("| σ | original prior | fine-tuned prior | gain |\n|---|---|---|---|")
    for sigma in (float(s) for s in args.sigmas.split(",")):
        before, after = probe(args.model, None, args.data, sigma), probe(args.model, tuned, args.data, sigma)
        print(f"| {sigma:g} | {before:.3f} | {after:.3f} | {after - before:+.3f} |", flush=True)


if __name__ == "__main__":
    main()
