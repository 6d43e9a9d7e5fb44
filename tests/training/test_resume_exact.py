"""Resuming is exact: N steps, then a resume to N + M, gives the weights (and, in an adversarial
run, the discriminator) of one uninterrupted N + M step run with the same seed. The state must
carry the AdamW moments for that: a state stripped of them resumes to other weights.

The learning-rate schedule is a function of ``steps`` (cosine decay over the run), so these runs
use a constant schedule (``warmup=1``, ``min_lr == lr``) under which the N-step run takes the
same steps as the first N of the longer one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fake_features import write_fake_vgg
from PIL import Image
from torch import Tensor

from tunecli.checkpoint import load_tensors, read_header, save_checkpoint
from tunecli.models import load_model
from tunecli.training.loop import TrainConfig, train
from tunecli.training.state import resume_path

N, M = 3, 3
LR = 2e-3


def make_images(folder: Path, count: int = 3, size: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        planes = [np.sin(2 * np.pi * (rng.random() * xx + rng.random() * yy) + rng.random() * 6) for _ in range(3)]
        pixels = (np.stack(planes, axis=2) * 0.4 + 0.5) * 255 + rng.normal(0, 8, (size, size, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_images(tmp_path_factory.mktemp("resume") / "data")


def denoise_config(data: Path, out: Path, **kw: object) -> TrainConfig:
    defaults: dict[str, object] = dict(
        task="denoise",
        data=[str(data)],
        out=str(out),
        steps=N + M,
        batch=3,
        patch=32,
        lr=LR,
        min_lr=LR,
        warmup=1,
        seed=7,
        hparams={"widths": [4, 8], "blocks": [1, 1]},
        checkpoint_every=1000,
        log_every=1000,
        data_workers=1,
        device="cpu",
    )
    defaults.update(kw)
    return TrainConfig.of(**defaults)  # type: ignore[arg-type]


def upscale_config(data: Path, out: Path, features: Path, **kw: object) -> TrainConfig:
    defaults: dict[str, object] = dict(
        task="upscale",
        data=[str(data)],
        out=str(out),
        steps=N + M,
        batch=2,
        patch=16,
        scale=2,
        features=str(features),
        lr=LR,
        min_lr=LR,
        warmup=1,
        seed=3,
        hparams={"width": 4, "blocks": 1, "scale": 2},
        # a strong adversarial term, so the discriminator shapes the generator's steps
        adversarial_weight=0.5,
        checkpoint_every=1000,
        log_every=1000,
        data_workers=1,
        device="cpu",
    )
    defaults.update(kw)
    return TrainConfig.of(**defaults)  # type: ignore[arg-type]


def state_tensors(out: Path) -> dict[str, Tensor]:
    return load_tensors(read_header(resume_path(out)))


def part(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def model_weights(out: Path) -> dict[str, Tensor]:
    return load_model(out).module.state_dict()


def assert_same(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert set(a) == set(b) and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=key)


def max_difference(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_denoise_resume_equals_uninterrupted_run(tmp_path: Path, data: Path) -> None:
    whole = tmp_path / "whole.safetensors"
    train(denoise_config(data, whole))
    first = tmp_path / "first.safetensors"
    train(denoise_config(data, first, steps=N))
    assert read_header(resume_path(first)).meta["resume"]["step"] == N
    resumed = tmp_path / "resumed.safetensors"
    result = train(denoise_config(data, resumed, resume=str(resume_path(first))))
    assert result.steps == N + M

    assert_same(model_weights(resumed), model_weights(whole))
    # the resumable states agree too: weights and AdamW moments
    assert_same(state_tensors(resumed), state_tensors(whole))
    # and the comparison has teeth: training moved the weights away from step N
    assert max_difference(model_weights(resumed), model_weights(first)) > 1e-4


def test_resume_state_holds_the_adamw_moments(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "model.safetensors"
    train(denoise_config(data, out, steps=N))
    tensors = state_tensors(out)
    model = part(tensors, "model")
    assert set(model) == set(load_model(out).module.state_dict())
    params = len(list(load_model(out).module.parameters()))
    for index in range(params):
        avg, avg_sq = tensors[f"optim.{index}.exp_avg"], tensors[f"optim.{index}.exp_avg_sq"]
        assert avg.dtype == torch.float32 and avg_sq.shape == avg.shape
        assert float(avg_sq.min()) >= 0.0 and float(avg_sq.abs().sum()) > 0.0
        assert float(tensors[f"optim.{index}.step"].reshape(())) == N
    assert f"optim.{params}.exp_avg" not in tensors  # one entry per parameter, no more
    assert not any(k.startswith(("disc.", "doptim.")) for k in tensors)  # denoise is not adversarial


def test_resume_without_the_moments_gives_other_weights(tmp_path: Path, data: Path) -> None:
    """A state whose ``optim.*`` tensors were dropped resumes with a fresh AdamW: other weights
    than the exact resume (so the exactness test above depends on the moments)."""
    first = tmp_path / "first.safetensors"
    train(denoise_config(data, first, steps=N))
    header = read_header(resume_path(first))
    tensors = load_tensors(header)
    stripped = tmp_path / "stripped.resume.safetensors"
    save_checkpoint(stripped, {k: v for k, v in tensors.items() if not k.startswith("optim.")}, header.meta)

    exact = tmp_path / "exact.safetensors"
    train(denoise_config(data, exact, resume=str(resume_path(first))))
    fresh = tmp_path / "fresh.safetensors"
    train(denoise_config(data, fresh, resume=str(stripped)))
    # both start from the same weights at step N, only the optimizer state differs
    assert max_difference(model_weights(fresh), model_weights(exact)) > 1e-4
    # a fresh AdamW counts its steps from 0 again
    assert float(state_tensors(fresh)["optim.0.step"].reshape(())) == M
    assert float(state_tensors(exact)["optim.0.step"].reshape(())) == N + M


def test_upscale_resume_equals_uninterrupted_run_with_discriminator(tmp_path: Path, data: Path) -> None:
    features = write_fake_vgg(tmp_path / "vgg_normalised_conv3_1.pth")
    whole = tmp_path / "whole.safetensors"
    train(upscale_config(data, whole, features))
    first = tmp_path / "first.safetensors"
    train(upscale_config(data, first, features, steps=N))
    resumed = tmp_path / "resumed.safetensors"
    train(upscale_config(data, resumed, features, resume=str(resume_path(first))))

    assert_same(model_weights(resumed), model_weights(whole))
    whole_state, resumed_state, first_state = (state_tensors(p) for p in (whole, resumed, first))
    # the discriminator and its AdamW are part of the state, and resume exactly
    disc = part(resumed_state, "disc")
    assert disc and part(resumed_state, "doptim")
    assert_same(disc, part(whole_state, "disc"))
    assert_same(part(resumed_state, "doptim"), part(whole_state, "doptim"))
    assert_same(resumed_state, whole_state)
    # the discriminator trained between step N and N + M
    assert max_difference(disc, part(first_state, "disc")) > 1e-5
    assert float(resumed_state["doptim.0.step"].reshape(())) == N + M


def test_upscale_resume_without_discriminator_moments_differs(tmp_path: Path, data: Path) -> None:
    """Dropping only the discriminator's AdamW moments changes where the discriminator goes."""
    features = write_fake_vgg(tmp_path / "vgg_normalised_conv3_1.pth")
    first = tmp_path / "first.safetensors"
    train(upscale_config(data, first, features, steps=N))
    header = read_header(resume_path(first))
    tensors = load_tensors(header)
    stripped = tmp_path / "stripped.resume.safetensors"
    save_checkpoint(stripped, {k: v for k, v in tensors.items() if not k.startswith("doptim.")}, header.meta)
    exact = tmp_path / "exact.safetensors"
    train(upscale_config(data, exact, features, resume=str(resume_path(first))))
    fresh = tmp_path / "fresh.safetensors"
    train(upscale_config(data, fresh, features, resume=str(stripped)))
    assert max_difference(part(state_tensors(fresh), "disc"), part(state_tensors(exact), "disc")) > 1e-5
