"""A stand-in feature network file for the tests (the real VGG-19 is never shipped)."""

from __future__ import annotations

from pathlib import Path

import torch


def write_fake_vgg(path: Path, seed: int = 0) -> Path:
    """A random stand-in for ``vgg_normalised_conv3_1.pth`` (the shapes of the real file, as
    :class:`~tunecli.losses.features.VGGFeatures` builds them), saved as a plain state dict."""
    from tunecli.losses.features import VGGFeatures

    generator = torch.Generator().manual_seed(seed)
    shapes = {k.removeprefix("body."): v.shape for k, v in VGGFeatures().state_dict().items()}
    torch.save({k: 0.1 * torch.randn(shape, generator=generator) for k, shape in shapes.items()}, path)
    return path
