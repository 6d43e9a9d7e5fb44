"""Denoise after the task-layer port trains exactly as before it.

The reference curves were recorded with the trainer as it was before tasks became plug-ins
(commit 31abc4c, ``tunecli.training.loop`` with ``denoise.degrade`` built in), on the generated
images below: the smoothed loss after every step and the final validation PSNR. The port must
reproduce them to float rounding, for one ω per sample and for ``--omega-groups 2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tunecli.training.loop import TrainConfig, train

BEFORE_PORT = {
    0: (
        [
            0.25536296,
            0.2550902,
            0.25411735,
            0.25242692,
            0.2518479,
            0.24896344,
            0.2472138,
            0.24515447,
            0.24243134,
            0.24068952,
            0.23883487,
            0.23708486,
        ],
        {"psnr_sigma15": 19.018, "psnr_sigma25": 18.312, "psnr_sigma50": 11.376},
    ),
    2: (
        [
            0.24928969,
            0.24889423,
            0.24859904,
            0.24670094,
            0.24629608,
            0.24562619,
            0.24323297,
            0.24053498,
            0.23852414,
            0.23583361,
            0.23310796,
            0.23136445,
        ],
        {"psnr_sigma15": 18.934, "psnr_sigma25": 18.053, "psnr_sigma50": 10.828},
    ),
}


def generated_images(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(3):
        y, x = np.mgrid[0:72, 0:80]
        base = (np.sin(x / (3 + i)) + np.cos(y / (4 + i))) * 60 + 128
        img = np.clip(base[..., None] + rng.normal(0, 10, (72, 80, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


@pytest.mark.parametrize("groups", [0, 2])
def test_denoise_loss_curve_and_validation_match_the_trainer_before_the_port(tmp_path: Path, groups: int) -> None:
    losses: list[float] = []
    config = TrainConfig(
        task="denoise",
        data=[str(generated_images(tmp_path / "data"))],
        out=str(tmp_path / "m.safetensors"),
        steps=12,
        batch=4,
        patch=32,
        hparams={"widths": [4, 8], "blocks": [1, 1]},
        val_split=1,
        val_every=6,
        checkpoint_every=6,
        log_every=6,
        data_workers=1,
        seed=5,
        warmup=3,
        omega_groups=groups,
        arch="unet",
    )
    result = train(config, progress=lambda status: losses.append(status.loss))
    expected_losses, expected_validation = BEFORE_PORT[groups]
    assert losses == pytest.approx(expected_losses, rel=1e-5)
    assert result.validation == pytest.approx(expected_validation, abs=0.002)
