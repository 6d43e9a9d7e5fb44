"""Geometric self-ensemble: the 8 transforms are a group, inverses undo them, averaging is exact."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tunecli.layers.ensemble import DIHEDRAL, DihedralEnsemble, _forward_transform, _inverse_transform


class Recorder(nn.Module):
    """Identity that remembers the shapes and first pixels it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.clone())
        return x


def test_the_eight_transforms_are_distinct_and_inverted() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    images = [_forward_transform(x, t, m) for t, m in DIHEDRAL]
    assert len(DIHEDRAL) == 8
    assert len({tuple(i.flatten().tolist()) for i in images}) == 8
    for (turns, mirror), image in zip(DIHEDRAL, images, strict=True):
        assert torch.equal(_inverse_transform(image, turns, mirror), x)


def test_ensemble_of_an_equivariant_module_is_the_module() -> None:
    recorder = Recorder()
    x = torch.rand(1, 3, 6, 10)
    assert torch.allclose(DihedralEnsemble(recorder)(x), x, atol=1e-7)
    assert sorted(s.shape[-2:] for s in recorder.seen) == [(6, 10)] * 4 + [(10, 6)] * 4
    # a pointwise network is equivariant: the ensemble changes nothing
    pointwise = nn.Conv2d(3, 3, 1)
    torch.testing.assert_close(DihedralEnsemble(pointwise)(x), pointwise(x))


def test_ensemble_averages_a_direction_sensitive_module() -> None:
    shift = nn.Conv2d(1, 1, (1, 3), padding=(0, 1), bias=False)  # looks left only
    with torch.no_grad():
        shift.weight.copy_(torch.tensor([[[[1.0, 0.0, 0.0]]]]))
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 8.0
    out = DihedralEnsemble(shift)(x)
    # each of the 8 transforms moves the spike one pixel along one of the 4 directions, twice each
    expected = torch.zeros(1, 1, 5, 5)
    for row, col in ((2, 1), (2, 3), (1, 2), (3, 2)):
        expected[0, 0, row, col] = 2.0
    torch.testing.assert_close(out, expected)
