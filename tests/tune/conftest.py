"""Fixtures for the ``tunecli tune`` tests: tiny random checkpoints per task, small images, a
session on them, and the page's server running on a thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from tune_support import TINY, RunningServer, SessionFactory, write_photo

from tunecli.api import load
from tunecli.archs import build_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.imageio import read_image
from tunecli.models import model_metadata
from tunecli.tune.command import CommandLine
from tunecli.tune.session import TuneSession


@pytest.fixture()
def make_checkpoint(tmp_path: Path) -> Callable[[str], Path]:
    """``make_checkpoint(task)``: a tiny random checkpoint of that task (see :data:`TINY`)."""

    def make(task: str) -> Path:
        arch, hparams, space = TINY[task]
        torch.manual_seed(1)
        net = build_arch(arch, hparams)
        for parameter in net.parameters():  # visible, alpha-dependent changes
            parameter.data.normal_(0.0, 0.3)
        path = tmp_path / "models" / f"{task}-tiny.safetensors"
        save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=space))
        return path

    return make


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    return write_photo(tmp_path / "photos" / "photo.png")


@pytest.fixture()
def make_session(make_checkpoint: Callable[[str], Path], photo: Path) -> SessionFactory:
    """``make_session(task, image=photo, output=None, overwrite=False)``: a session on a tiny model."""

    def make(task: str = "denoise", image: Path | None = None, output: Path | None = None, overwrite: bool = False):
        checkpoint = make_checkpoint(task)
        restorer = load(checkpoint, device="cpu")
        source = image or photo
        command = CommandLine(task, source, str(checkpoint), None, output, overwrite)
        return TuneSession(restorer, read_image(source), command, restorer.alpha_space.default)

    return make


@pytest.fixture()
def serve() -> Iterator[Callable[[TuneSession], RunningServer]]:
    """``serve(session)``: the page's server for ``session`` on a thread (stopped after the test)."""
    running: list[RunningServer] = []

    def start(session: TuneSession) -> RunningServer:
        server = RunningServer(session).__enter__()
        running.append(server)
        return server

    yield start
    for server in running:
        server.__exit__()
