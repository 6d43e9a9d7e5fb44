"""What the ``tunecli tune`` tests share beside their fixtures (``conftest.py``): alpha spaces,
the tiny models per task, a photo writer and a server running on a thread. (A module of its own:
``from conftest import`` would find another folder's conftest when the whole suite runs.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.tune.session import TuneSession

SCALAR = AlphaSpace(
    2,
    "simplex",
    (AlphaAxis("gentle", "assumes little noise"), AlphaAxis("strong", "assumes heavy noise")),
    (0.7, 0.3),
    low="gentle: keeps detail",
    high="strong: smooths",
)
BOX = AlphaSpace(2, "box", (AlphaAxis("noise", "noise removal"), AlphaAxis("blur", "sharpening")), (0.2, 0.5))
SIMPLEX4 = AlphaSpace(
    4,
    "simplex",
    tuple(AlphaAxis(name, f"the style of {name}") for name in ("starry", "scream", "wave", "kandinsky")),
    (0.25, 0.25, 0.25, 0.25),
)
#: (arch, hparams, alpha space) of a tiny random model per task
TINY = {
    "denoise": ("unet", {"widths": [4, 8], "blocks": [0, 1]}, SCALAR),
    "deblur": ("unet", {"widths": [4, 8], "blocks": [0, 1]}, BOX),
    "upscale": ("srnet", {"width": 4, "blocks": 1, "scale": 2}, AlphaSpace(2, "simplex", SCALAR.axes, (0.5, 0.5))),
    "style": ("stylenet", {"widths": [4, 4, 4], "blocks": 1}, SIMPLEX4),
}


def write_photo(path: Path, width: int = 96, height: int = 64, seed: int = 0) -> Path:
    """A smooth colour gradient with noise, 8-bit RGB PNG."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0.3 * np.sin(xx / 7)], axis=2)
    noisy = np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(path)
    return path


SessionFactory = Callable[..., TuneSession]


class RunningServer:
    """A :class:`~tunecli.tune.server.TuneServer` serving on a background thread."""

    def __init__(self, session: TuneSession) -> None:
        from tunecli.tune.server import TuneServer, bind_local

        self.session = session
        self.server = TuneServer(session, bind_local(0))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    def __enter__(self) -> RunningServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            self.thread.join(0.05)
        raise RuntimeError("the tune server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.thread.join(10)
