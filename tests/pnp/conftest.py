"""Fixtures for the plug-and-play tests: tiny checkpoints loaded as Restorers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tunecli.api import Restorer, load
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.models import model_metadata
from tunecli.tasks import deblur, denoise


def _save(path: Path, task: str, identity: bool) -> Path:
    torch.manual_seed(0)
    net = build_arch("tiny", {"p": 2, "width": 4})
    if identity:  # the residual branch's last convolution at zero: output = input at every alpha
        with torch.no_grad():
            net.body[-1].weight.zero_()
            net.body[-1].bias.zero_()
    space = denoise.alpha_space() if task == "denoise" else deblur.alpha_space()
    save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=space))
    return path


@pytest.fixture()
def tiny_restorer(tmp_path: Path) -> Callable[..., Restorer]:
    """``tiny_restorer(task="denoise", identity=True)``: a tiny checkpoint of that task, loaded on the CPU."""

    def make(task: str = "denoise", identity: bool = True) -> Restorer:
        path = _save(tmp_path / f"{task}-{identity}.safetensors", task, identity)
        return load(path, device="cpu", precision="fp32")

    return make
