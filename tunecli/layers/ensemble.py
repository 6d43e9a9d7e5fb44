"""Geometric self-ensemble: run a network on the 8 flips/rotations of its input and average.

For restoration networks trained with flip/rot90 augmentation this trades 8x the compute for a
little extra fidelity (the "x8" mode of the denoising and super-resolution literature).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: The dihedral group of the square as (quarter turns, mirror) pairs.
DIHEDRAL = tuple((turns, mirror) for mirror in (False, True) for turns in range(4))


def _forward_transform(x: Tensor, turns: int, mirror: bool) -> Tensor:
    if mirror:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1))


def _inverse_transform(x: Tensor, turns: int, mirror: bool) -> Tensor:
    x = torch.rot90(x, -turns, dims=(-2, -1))
    return x.flip(-1) if mirror else x


class DihedralEnsemble(nn.Module):
    """``forward(x)`` = mean over the 8 transforms ``g`` of ``g⁻¹(module(g(x)))``.

    ``x``: ``(B, C, H, W)``; the wrapped module must accept both ``(H, W)`` and ``(W, H)``
    inputs (any tile of a size multiple does). Tile-exact whenever ``module`` is: each transform
    sees the same neighbourhood of every pixel, only turned. Sums in float32.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        total: Tensor | None = None
        for turns, mirror in DIHEDRAL:
            out = _inverse_transform(self.module(_forward_transform(x, turns, mirror)), turns, mirror).float()
            total = out if total is None else total + out
        assert total is not None
        return (total / len(DIHEDRAL)).to(x.dtype)
