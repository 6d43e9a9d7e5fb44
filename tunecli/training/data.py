"""Training data: image lists, their manifest hash, and a seeded background patch sampler.

Batches are a pure function of ``(seed, step)``: resuming at step ``s`` replays exactly the
batches an uninterrupted run would have drawn, without saving any random state. Images are
decoded on demand by the background workers and kept in a memory-bounded cache, so a folder of
any size trains without being loaded up front (a small one ends up fully cached).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tunecli.errors import UsageError
from tunecli.imageio import is_image_path, read_rgb


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


def split_validation(files: Sequence[Path], count: int) -> tuple[list[Path], list[Path]]:
    """``(training, held_aside)``: ``count`` images spread evenly over the sorted list are held
    aside for validation and never trained on. Depends only on the list, not on the seed."""
    if count <= 0:
        return list(files), []
    if count >= len(files):
        raise UsageError(f"--val-split {count} would hold aside all {len(files)} training images")
    stride = len(files) / count
    held = {int(i * stride + stride / 2) for i in range(count)}
    return [f for i, f in enumerate(files) if i not in held], [f for i, f in enumerate(files) if i in held]


def manifest_sha256(files: Sequence[Path]) -> str:
    """sha256 over ``"<file name>\\t<sha256 of its bytes>\\n"`` lines in list order: names the
    exact data a model was trained on, independent of where the folder lies."""
    digest = hashlib.sha256()
    for path in files:
        content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        digest.update(f"{Path(path).name}\t{content}\n".encode())
    return digest.hexdigest()


def read_rgb8(path: Path) -> np.ndarray:
    """One training image as uint8 ``(H, W, 3)`` (gray replicated, alpha dropped)."""
    return np.clip(np.round(read_rgb(path) * 255), 0, 255).astype(np.uint8)


#: Decoded training images kept in memory (uint8 RGB): BSDS400 needs ~185 MB, so it fits whole.
DEFAULT_CACHE_BYTES = 2 << 30


class ImageFolder(Sequence[np.ndarray]):
    """Training images decoded on first use, uint8 ``(H, W, 3)`` (gray replicated), with a
    least-recently-used cache of at most ``cache_bytes`` decoded bytes. Safe to read from several
    threads (a miss may decode twice; both results are equal).

    With ``references`` (one image file per training file, see
    :class:`~tunecli.tasks.registry.Pairing`) each item is the training image stacked with its
    reference, uint8 ``(h, w, 6)``: channels 0–2 the image cropped to the reference's size
    ``(h, w)`` (top-left kept; at most ``grid − 1`` rows and columns fewer), 3–5 the reference.
    """

    def __init__(
        self,
        files: Sequence[Path],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        references: Sequence[Path] | None = None,
        grid: int = 1,
    ) -> None:
        self.files = list(files)
        self.references = None if references is None else list(references)
        if self.references is not None and len(self.references) != len(self.files):
            raise ValueError(f"{len(self.references)} reference files for {len(self.files)} training files")
        self.grid = grid
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        image = read_rgb8(self.files[index])
        if self.references is not None:
            image = self._stacked(image, self.files[index], self.references[index])
        with self._lock:
            if index not in self._cache:
                self._cache[index] = image
                self._cached_bytes += image.nbytes
                while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached_bytes -= dropped.nbytes
        return image

    def _stacked(self, image: np.ndarray, file: Path, reference_file: Path) -> np.ndarray:
        """``image`` cropped to its reference's size, the reference stacked on as channels 3–5."""
        reference = read_rgb8(reference_file)
        (h, w), (rh, rw) = image.shape[:2], reference.shape[:2]
        if not (0 <= h - rh < self.grid and 0 <= w - rw < self.grid):
            raise UsageError(
                f"{reference_file} is {rw}x{rh}: not the size of {file.name} ({w}x{h}) "
                f"cropped to a multiple of {self.grid}"
            )
        return np.concatenate([image[:rh, :rw], reference], axis=2)

    @property
    def cached(self) -> int:
        """How many decoded images the cache holds now."""
        with self._lock:
            return len(self._cache)


def sample_batch(
    images: Sequence[np.ndarray], batch: int, patch: int, seed: int, step: int, grid: int = 1
) -> np.ndarray:
    """Random crops with random flips/rot90 for ``step``: float32 ``(B, C, patch, patch)`` in [0, 1]
    for images of ``C`` channels (3; 6 with references, which move with the image). Crop offsets
    are multiples of ``grid``; ``grid`` 1 draws exactly the crops it always has."""
    rng = np.random.default_rng([seed, step])
    out: np.ndarray | None = None
    for b in range(batch):
        image = images[int(rng.integers(len(images)))]
        h, w = image.shape[:2]
        if h < patch or w < patch:
            raise UsageError(f"a training image is {w}x{h}, smaller than the {patch}px patch")
        if out is None:
            out = np.empty((batch, image.shape[2], patch, patch), dtype=np.float32)
        top = int(rng.integers((h - patch) // grid + 1)) * grid
        left = int(rng.integers((w - patch) // grid + 1)) * grid
        crop = image[top : top + patch, left : left + patch]
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[:, ::-1]
        out[b] = crop.transpose(2, 0, 1) / 255.0
    return np.empty((0, 3, patch, patch), dtype=np.float32) if out is None else out


def prefetch_batches(
    images: Sequence[np.ndarray],
    batch: int,
    patch: int,
    seed: int,
    start: int,
    stop: int,
    depth: int = 8,
    workers: int = 2,
    grid: int = 1,
) -> Iterator[np.ndarray]:
    """Yield ``sample_batch`` for steps ``start … stop-1`` in order (crop offsets multiples of
    ``grid``), produced ``depth`` steps ahead by ``workers`` background threads (decoding and
    cropping release the GIL)."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="tunecli-batches")
    pending: deque[Future[np.ndarray]] = deque()
    upcoming = iter(range(start, stop))
    try:
        for step in upcoming:
            pending.append(pool.submit(sample_batch, images, batch, patch, seed, step, grid))
            if len(pending) >= depth:
                break
        while pending:
            ready = pending.popleft().result()
            step = next(upcoming, None)
            if step is not None:
                pending.append(pool.submit(sample_batch, images, batch, patch, seed, step, grid))
            yield ready
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
