"""Training data: image lists, their manifest hash, and a seeded background patch sampler.

Batches are a pure function of ``(seed, step)``: resuming at step ``s`` replays exactly the
batches an uninterrupted run would have drawn, without saving any random state.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tunecli.errors import UsageError
from tunecli.evaluation.evaluate import read_rgb
from tunecli.imageio import is_image_path


def list_images(folders: Sequence[Path]) -> list[Path]:
    """Every image below ``folders`` (recursive), sorted for a stable order."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"{folder}: training data folder not found")
        files.extend(sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p)))
    if not files:
        raise UsageError(f"no images found in {', '.join(str(f) for f in folders)}")
    return files


def manifest_sha256(files: Sequence[Path]) -> str:
    """sha256 over ``"<file name>\\t<sha256 of its bytes>\\n"`` lines in list order: names the
    exact data a model was trained on, independent of where the folder lies."""
    digest = hashlib.sha256()
    for path in files:
        content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        digest.update(f"{Path(path).name}\t{content}\n".encode())
    return digest.hexdigest()


def load_rgb_images(files: Sequence[Path], workers: int = 2) -> list[np.ndarray]:
    """Decode ``files`` in parallel into uint8 ``(H, W, 3)`` arrays (gray is replicated)."""

    def load(path: Path) -> np.ndarray:
        return np.clip(np.round(read_rgb(path) * 255), 0, 255).astype(np.uint8)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(load, files))


def sample_batch(images: Sequence[np.ndarray], batch: int, patch: int, seed: int, step: int) -> np.ndarray:
    """Random crops with random flips/rot90 for ``step``: float32 ``(B, 3, patch, patch)`` in [0, 1]."""
    rng = np.random.default_rng([seed, step])
    out = np.empty((batch, 3, patch, patch), dtype=np.float32)
    for b in range(batch):
        image = images[int(rng.integers(len(images)))]
        h, w = image.shape[:2]
        if h < patch or w < patch:
            raise UsageError(f"a training image is {w}x{h}, smaller than the {patch}px patch")
        top = int(rng.integers(h - patch + 1))
        left = int(rng.integers(w - patch + 1))
        crop = image[top : top + patch, left : left + patch]
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[:, ::-1]
        out[b] = crop.transpose(2, 0, 1) / 255.0
    return out


def prefetch_batches(
    images: Sequence[np.ndarray], batch: int, patch: int, seed: int, start: int, stop: int, depth: int = 8
) -> Iterator[np.ndarray]:
    """Yield ``sample_batch`` for steps ``start … stop-1``, produced by a background thread."""
    slots: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
    halt = threading.Event()

    def produce() -> None:
        for step in range(start, stop):
            if halt.is_set():
                return
            slots.put(sample_batch(images, batch, patch, seed, step))
        slots.put(None)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not None:
            yield item
    finally:
        halt.set()
        while not slots.empty():
            slots.get_nowait()
