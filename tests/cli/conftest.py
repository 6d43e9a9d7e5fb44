"""Fixtures for the CLI tests: tiny random checkpoints per task and generated images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from torch import Tensor, nn
from typer.testing import CliRunner, Result

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.archs import TilingContract, TunableNet, build_arch, register_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.cli import app
from tunecli.layers import TunableConv2d
from tunecli.models import model_metadata


@register_arch("test-upsampler", "tunable 3x3 conv + pixel shuffle (CLI tests of upscale)")
class TestUpsampler(TunableNet):
    """``(B, C, H, W)`` → ``(B, C, H·scale, W·scale)``; tile-exact, radius 1."""

    def __init__(self, channels: int = 3, scale: int = 4, p: int = 2) -> None:
        super().__init__()
        self.p, self.channels, self.scale = p, channels, scale
        self.conv = TunableConv2d(channels, channels * scale * scale, 3, p, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    @property
    def tiling(self) -> TilingContract:
        return TilingContract(scale=self.scale, size_multiple=1, receptive_radius=1, tile_exact=True)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        return self.shuffle(self.conv(x, omega))


SCALAR = AlphaSpace(
    2,
    "simplex",
    (AlphaAxis("gentle", "assumes little noise"), AlphaAxis("strong", "assumes heavy noise")),
    (0.5, 0.5),
    low="gentle",
    high="strong",
)
BOX = AlphaSpace(2, "box", (AlphaAxis("noise", "noise removal"), AlphaAxis("blur", "sharpening")), (0.5, 0.5))

ModelFactory = Callable[..., Path]


@pytest.fixture()
def make_model(tmp_path: Path) -> ModelFactory:
    """Save a tiny random checkpoint and return its path."""

    def make(
        task: str = "denoise",
        name: str | None = None,
        arch: str = "tiny",
        hparams: dict | None = None,
        space: AlphaSpace = SCALAR,
        folder: Path | None = None,
    ) -> Path:
        torch.manual_seed(0)
        net = build_arch(arch, {"width": 4} if hparams is None and arch == "tiny" else hparams or {})
        extra = {
            "license": "CC0-1.0",
            "training": {"command": "tunecli train denoise --steps 3", "steps": 3},
            "metrics": {"psnr_sigma25": 30.5},
        }
        path = (folder or tmp_path / "models") / f"{name or task + '-test'}.safetensors"
        save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=space, extra=extra))
        return path

    return make


@pytest.fixture()
def model(make_model: ModelFactory) -> Path:
    return make_model()


def _save_png(path: Path, height: int = 20, width: int = 28, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    data = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(data[:, :, 0] if channels == 1 else data, mode).save(path)
    return path


@pytest.fixture()
def write_png() -> Callable[..., Path]:
    """``write_png(path, height=20, width=28, mode="RGB", seed=0)``: a random 8-bit PNG."""
    return _save_png


@pytest.fixture()
def run_cli() -> Callable[..., Result]:
    """``run_cli(*args)``: invoke the tunecli app in-process; stdout and stderr kept apart."""
    runner = CliRunner()

    def run(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """``snapshot(folder)``: every file below it (hidden ones too) by relative path → bytes."""
    return _snapshot
