"""Check tunecli's GPU paths against the CPU on a machine with CUDA; prints a table.

    python bench/cuda_check.py [--model denoise] [--out DIR]

- the API on CUDA in fp32 / fp16 / bf16, whole image and auto tiles, and with the x8 ensemble,
  each compared with the CPU fp32 result (PSNR between the two and the largest difference in
  8-bit levels);
- the CLI end to end (``tunecli denoise --device cuda``, automatic fp16) against ``--device cpu``;
- seconds per megapixel on a 2048x2048 image, CPU and GPU;
- a real CUDA out-of-memory: the same image whole under a 1 GiB memory cap falls back to tiles.

Exits 1 when a comparison falls below its bound, 2 when there is no CUDA.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tunecli import api
from tunecli.evaluation.metrics import psnr
from tunecli.imageio import Image, ImageMeta, read_image
from tunecli.tasks import default_models

SAMPLE = Path(__file__).resolve().parents[1] / "tunecli" / "samples" / "chelsea-noisy25.png"
# PSNR of a GPU result against the CPU fp32 one, in dB: float32 differs by rounding only
BOUNDS = {"fp32": 60.0, "fp16": 45.0, "bf16": 35.0}


def max_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(np.round(a * 255) - np.round(b * 255)).max())


def seconds_per_mp(restorer: api.Restorer, image: np.ndarray, repeats: int = 3) -> float:
    restorer.run(image, 0.4)  # warm-up: kernel choice, auto tile probe
    if restorer.device.type == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(repeats):
        restorer.run(image, 0.4)
    if restorer.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - began) / repeats / (image.shape[0] * image.shape[1] / 1e6)


def check_out_of_memory(model: str, image: np.ndarray, reference: np.ndarray) -> int:
    """Cap this process's CUDA memory at 1 GiB so the whole ``image`` cannot fit, run it with
    ``tile=0`` and check the real out-of-memory fallback: a notice, smaller tiles, the CPU result.
    Returns the number of failures (0 or 1). Run it last: the cap stays for the process."""
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(2**30 / torch.cuda.get_device_properties(0).total_memory)
    gpu = api.load(model, device="cuda", precision="fp32")
    height, width = image.shape[:2]
    restored = gpu.restore(Image(image, None, ImageMeta("tiff", "float32", "RGB")), gpu.parse_alpha(0.4).omega, tile=0)
    score = psnr(restored.image.pixels, reference)
    ok = score >= BOUNDS["fp32"] and any(n.startswith("out of memory with the whole image") for n in restored.notices)
    print(
        f"{'ok  ' if ok else 'FAIL'} cuda fp32 {width}x{height} whole image under a 1 GiB cap: "
        f"{'; '.join(restored.notices) or 'no notice'}; {score:.1f} dB to CPU fp32"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=default_models()["denoise"], help="Installed model name or .safetensors path."
    )
    parser.add_argument("--out", type=Path, default=None, help="Folder for the CLI outputs (default: a temp folder).")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    failures = 0
    pixels = read_image(SAMPLE).pixels.astype(np.float32)
    cpu = api.load(args.model, device="cpu", precision="fp32")
    reference = cpu.run(pixels, 0.4, tile=0)
    reference_x8 = api.load(args.model, device="cpu", precision="fp32", ensemble=True).run(pixels, 0.4, tile=0)
    for precision in ("fp32", "fp16", "bf16"):
        gpu = api.load(args.model, device="cuda", precision=precision)
        for tile in (0, "auto", 128):
            out = gpu.run(pixels, 0.4, tile=tile)
            score = psnr(out, reference)
            ok = score >= BOUNDS[precision]
            failures += not ok
            print(
                f"{'ok  ' if ok else 'FAIL'} cuda {precision} tile={tile}: {score:.1f} dB to CPU fp32, "
                f"max {max_levels(out, reference)} levels"
            )
    x8 = api.load(args.model, device="cuda", precision="fp32", ensemble=True).run(pixels, 0.4)
    score = psnr(x8, reference_x8)
    failures += score < BOUNDS["fp32"]
    print(f"{'ok  ' if score >= BOUNDS['fp32'] else 'FAIL'} cuda fp32 ensemble x8: {score:.1f} dB to CPU x8")

    with tempfile.TemporaryDirectory() as temp:
        folder = args.out or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        outputs = {}
        for device in ("cpu", "cuda"):
            target = folder / f"cli-{device}.png"
            command = [sys.executable, "-m", "tunecli", "denoise", str(SAMPLE), "--alpha", "0.4"]
            done = subprocess.run(
                [*command, "--device", device, "-o", str(target), "--overwrite"], capture_output=True, text=True
            )
            print(f"cli --device {device}: exit {done.returncode} {done.stderr.strip().splitlines()[-1:]}")
            outputs[device] = read_image(target).pixels if target.exists() else None
        if outputs["cpu"] is None or outputs["cuda"] is None:
            failures += 1
            print("FAIL cli: an output is missing")
        else:
            score = psnr(outputs["cuda"], outputs["cpu"])
            failures += score < BOUNDS["fp16"]
            print(
                f"{'ok  ' if score >= BOUNDS['fp16'] else 'FAIL'} cli cuda (auto fp16) vs cpu: {score:.1f} dB, "
                f"max {max_levels(outputs['cuda'], outputs['cpu'])} levels"
            )

    big = np.random.default_rng(0).random((2048, 2048, 3), dtype=np.float32)
    print(f"speed 2048x2048: cpu fp32 {seconds_per_mp(cpu, big, repeats=1):.3f} s/MP")
    for precision in ("fp32", "fp16", "bf16"):
        gpu = api.load(args.model, device="cuda", precision=precision)
        print(f"speed 2048x2048: cuda {precision} {seconds_per_mp(gpu, big):.4f} s/MP")
    failures += check_out_of_memory(args.model, big, cpu.run(big, 0.4, tile=0))
    print(f"{failures} comparison(s) below bound")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
