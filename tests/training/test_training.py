"""Training: loss goes down, checkpoints load with their metadata, resume continues, ω sampling."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.archs.registry import build_arch
from tunecli.checkpoint import read_header
from tunecli.degradations.noise import awgn_batch
from tunecli.errors import UsageError
from tunecli.models import load_model
from tunecli.tasks import denoise
from tunecli.training.data import (
    ImageFolder,
    list_images,
    manifest_sha256,
    prefetch_batches,
    read_rgb8,
    sample_batch,
    split_validation,
)
from tunecli.training.loop import (
    TrainConfig,
    TrainStatus,
    learning_rate,
    objective,
    recorded_total,
    run_grouped,
    sample_grouped_omega,
    sample_omega,
    train,
)


def make_images(folder: Path, count: int = 4, size: int = 48) -> Path:
    """Smooth random colour images (gradients + blobs) that a denoiser can learn quickly."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        channels = [np.sin(2 * np.pi * (rng.random() * xx + rng.random() * yy) + rng.random() * 6) for _ in range(3)]
        img = (np.stack(channels, axis=2) * 0.4 + 0.5) * 255
        Image.fromarray(img.astype(np.uint8)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def config(tmp_path: Path, **kw: object) -> TrainConfig:
    data = make_images(tmp_path / "data")
    defaults = dict(
        task="denoise",
        data=[str(data)],
        out=str(tmp_path / "model.safetensors"),
        steps=60,
        batch=4,
        patch=32,
        lr=3e-3,
        warmup=5,
        hparams={"widths": [8, 16], "blocks": [1, 1]},
        val_data=[str(data)],
        val_images=2,
        val_every=30,
        checkpoint_every=20,
        log_every=10,
        command="tunecli train denoise --data data --out model.safetensors --steps 60",
    )
    defaults.update(kw)
    return TrainConfig.of(**defaults)  # type: ignore[arg-type]


def test_short_training_lowers_loss_and_writes_loadable_checkpoint(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    lines: list[str] = []
    statuses: list[TrainStatus] = []
    result = train(cfg, log=lines.append, progress=statuses.append)
    assert result.steps == 60
    assert [s.step for s in statuses] == list(range(1, 61)) and {s.total for s in statuses} == {60}
    assert statuses[0].validation == {} and set(statuses[-1].validation) == {
        "psnr_sigma15",
        "psnr_sigma25",
        "psnr_sigma50",
    }
    assert statuses[-1].loss < statuses[0].loss
    assert result.last_loss < result.first_loss
    loaded = load_model(cfg.out)
    meta = read_header(cfg.out).meta
    training = meta["training"]
    assert training["command"] == cfg.command
    assert training["steps"] == 60
    assert training["data_manifest_sha256"] == manifest_sha256(list_images([Path(cfg.data[0])]))
    assert set(training["validation"]) == {"psnr_sigma15", "psnr_sigma25", "psnr_sigma50"}
    assert loaded.alpha_space == denoise.alpha_space()
    assert any("validation" in line for line in lines)

    # resuming continues the step count from the saved state
    cfg2 = config(tmp_path, steps=70, resume=str(tmp_path / "model.resume.safetensors"))
    lines2: list[str] = []
    result2 = train(cfg2, log=lines2.append)
    assert result2.steps == 70
    assert lines2[1].startswith("resumed from") and "at step 60" in lines2[1]
    resumed = read_header(cfg.out).meta["training"]
    assert resumed["steps"] == 70 and resumed["total_steps"] == 70
    assert resumed["commands"] == [cfg.command, cfg2.command]

    # a warm start copies the weights and carries the command history on
    cfg3 = config(tmp_path, steps=1, out=str(tmp_path / "warm.safetensors"), init_from=cfg.out, lr=0.0, warmup=1)
    train(cfg3)
    warm = load_model(cfg3.out)
    for key, value in load_model(cfg.out).module.state_dict().items():
        assert torch.equal(warm.module.state_dict()[key], value), key
    warm_training = read_header(cfg3.out).meta["training"]
    assert warm_training["commands"] == [cfg.command, cfg2.command, cfg3.command]
    assert (warm_training["steps"], warm_training["total_steps"]) == (1, 71)
    assert warm_training["init_from_sha256"] == hashlib.sha256(Path(cfg.out).read_bytes()).hexdigest()
    assert resumed["init_from_sha256"] is None
    assert warm_training["total_wall_seconds"] >= resumed["total_wall_seconds"] == resumed["wall_seconds"] > 0
    # resuming the warm start keeps the source's hash
    cfg4 = config(tmp_path, steps=2, out=cfg3.out, resume=str(tmp_path / "warm.resume.safetensors"), lr=0.0)
    train(cfg4)
    assert (
        read_header(cfg4.out).meta["training"]["init_from_sha256"]
        == hashlib.sha256(Path(cfg.out).read_bytes()).hexdigest()
    )


def test_recorded_total_is_not_claimed_when_the_source_cannot_tell_it() -> None:
    # recorded totals are carried; a one-command source without them is its own total
    assert recorded_total({"steps": 3, "total_steps": 9, "total_wall_seconds": 5.0}) == (9, 5.0)
    assert recorded_total({"steps": 40, "wall_seconds": 2.5, "commands": ["a"]}) == (40, 2.5)
    # several commands (resumes, warm starts) before totals were recorded: unknown, so null
    assert recorded_total({"steps": 14000, "wall_seconds": 4860.0, "commands": ["a", "b"]}) == (None, None)
    assert recorded_total({"steps": 1, "total_steps": None, "total_wall_seconds": None}) == (None, None)


def test_batches_are_a_function_of_seed_and_step(tmp_path: Path) -> None:
    images = [np.random.default_rng(i).integers(0, 255, (40, 50, 3), dtype=np.uint8) for i in range(3)]
    a = sample_batch(images, 4, 16, seed=1, step=7)
    assert a.shape == (4, 3, 16, 16) and a.dtype == np.float32
    assert np.array_equal(a, sample_batch(images, 4, 16, seed=1, step=7))
    assert not np.array_equal(a, sample_batch(images, 4, 16, seed=1, step=8))


def test_image_folder_decodes_on_demand_within_its_cache_bound(tmp_path: Path) -> None:
    files = list_images([make_images(tmp_path / "data", count=5, size=40)])
    eager = [read_rgb8(path) for path in files]
    one_image = 40 * 40 * 3
    folder = ImageFolder(files, cache_bytes=2 * one_image)
    assert len(folder) == 5 and folder.cached == 0  # nothing decoded up front
    for index in (0, 1, 2, 3, 4, 2):
        assert np.array_equal(folder[index], eager[index])
        assert folder.cached <= 2
    # batches from the on-demand folder equal the ones from fully decoded images
    assert np.array_equal(sample_batch(folder, 6, 16, seed=3, step=2), sample_batch(eager, 6, 16, seed=3, step=2))


def test_prefetch_yields_every_step_in_order_from_several_workers(tmp_path: Path) -> None:
    images = [np.random.default_rng(i).integers(0, 255, (40, 50, 3), dtype=np.uint8) for i in range(3)]
    got = list(prefetch_batches(images, 2, 16, seed=5, start=3, stop=20, depth=4, workers=3))
    assert len(got) == 17
    for step, batch in zip(range(3, 20), got, strict=True):
        assert np.array_equal(batch, sample_batch(images, 2, 16, seed=5, step=step))


def test_prefetch_reports_a_worker_error_and_can_stop_early() -> None:
    small = [np.zeros((10, 10, 3), dtype=np.uint8)]
    with pytest.raises(UsageError, match="smaller than the 16px patch"):
        next(prefetch_batches(small, 2, 16, seed=0, start=0, stop=5))
    images = [np.zeros((40, 40, 3), dtype=np.uint8)]
    stream = prefetch_batches(images, 2, 16, seed=0, start=0, stop=1000, depth=4)
    next(stream)
    stream.close()  # the consumer stops: no hang, pending work is dropped


@pytest.mark.parametrize("domain", ["simplex", "box"])
def test_omega_sampling_covers_corners_and_interior(domain: str) -> None:
    space = AlphaSpace(3, domain, (AlphaAxis("a"), AlphaAxis("b"), AlphaAxis("c")), (1.0, 0.0, 0.0))
    omega = sample_omega(space, 4000, 0.2, torch.Generator().manual_seed(0))
    assert omega.shape == (4000, 3)
    assert omega.min() >= 0 and omega.max() <= 1
    corners = ((omega == 0) | (omega == 1)).all(dim=1)
    assert 0.15 < corners.float().mean() < 0.25
    interior = omega[~corners]
    if domain == "simplex":
        torch.testing.assert_close(omega.sum(dim=1), torch.ones(4000))
        # Dirichlet(1,1,1): each coordinate has mean 1/3 and the marginal is Beta(1, 2)
        torch.testing.assert_close(interior.mean(dim=0), torch.full((3,), 1 / 3), atol=0.02, rtol=0)
        assert (interior[:, 0] < 0.5).float().mean() == pytest.approx(0.75, abs=0.03)
    else:
        torch.testing.assert_close(interior.mean(dim=0), torch.full((3,), 0.5), atol=0.02, rtol=0)
    for axis in range(3):  # every one-hot corner / every axis extreme appears
        assert bool((omega[:, axis] == 1).any())


def test_learning_rate_schedule() -> None:
    cfg = TrainConfig(task="denoise", data=[], out="x.safetensors", steps=1000, lr=1e-3, warmup=100, min_lr=0.0)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 550) == pytest.approx(5e-4)
    assert learning_rate(cfg, 1000) == pytest.approx(0.0, abs=1e-12)


def test_noise_and_sigma_mapping() -> None:
    assert denoise.sigma_of_alpha(0) == 5 and denoise.sigma_of_alpha(1) == 50
    assert denoise.alpha_of_sigma(25) == pytest.approx(20 / 45)
    assert denoise.alpha_of_sigma(80) == 1.0
    clean = torch.full((2, 3, 64, 64), 0.5)
    gen = torch.Generator().manual_seed(0)
    noisy = awgn_batch(clean, torch.tensor([25.0, 25.0]), gen, torch.tensor([False, True]))
    assert float((noisy[0] - clean[0]).std()) == pytest.approx(25 / 255, rel=0.05)
    assert torch.equal(noisy[1], torch.round(noisy[1] * 255) / 255)


def test_objectives_are_mean_absolute_and_mean_squared_error() -> None:
    restored = torch.tensor([[0.5, 0.25], [1.0, 0.0]]).reshape(2, 1, 1, 2)
    clean = torch.tensor([[0.0, 0.25], [0.5, 0.5]]).reshape(2, 1, 1, 2)
    assert float(objective(restored, clean, "l1")) == pytest.approx((0.5 + 0 + 0.5 + 0.5) / 4)
    assert float(objective(restored, clean, "l2")) == pytest.approx((0.25 + 0 + 0.25 + 0.25) / 4)


def test_psnr_objective_is_the_mean_negative_psnr_of_each_sample() -> None:
    clean = torch.zeros(2, 3, 4, 4)
    restored = torch.cat([torch.full((1, 3, 4, 4), 0.1), torch.full((1, 3, 4, 4), 0.01)])
    # per-sample MSE 1e-2 and 1e-4: PSNR 20 and 40 dB, so the loss is -(20 + 40) / 2
    assert float(objective(restored, clean, "psnr")) == pytest.approx(-30.0, abs=1e-4)
    # scale-free per sample: halving one sample's error gains 6.02 dB however small it was
    halved = torch.cat([restored[:1], restored[1:] / 2])
    gain = float(objective(restored, clean, "psnr") - objective(halved, clean, "psnr"))
    assert gain == pytest.approx(20 * np.log10(2) / 2, abs=1e-4)


def test_a_unet_grown_by_one_level_starts_out_computing_its_source(tmp_path: Path) -> None:
    cfg = config(tmp_path, steps=10, hparams={"widths": [8, 16], "blocks": [1, 2]}, val_data=[])
    train(cfg)
    grown_hparams = {"widths": [8, 16, 32], "blocks": [1, 1, 1]}
    cfg2 = config(tmp_path, steps=1, lr=0.0, warmup=1, out=str(tmp_path / "grown.safetensors"), init_from=cfg.out,
                  hparams=grown_hparams, val_data=[])  # fmt: skip
    lines: list[str] = []
    train(cfg2, log=lines.append)
    assert any(line.startswith("warm-started from") for line in lines)
    source, grown = load_model(cfg.out).module, load_model(cfg2.out).module
    assert grown.hparams["widths"] == [8, 16, 32]
    x = torch.rand(2, 3, 24, 24)
    for omega in ([1.0, 0.0], [0.3, 0.7]):
        with torch.no_grad():
            assert torch.allclose(grown(x, torch.tensor(omega)), source(x, torch.tensor(omega)), atol=1e-6)
    assert read_header(cfg2.out).meta["training"]["commands"] == [cfg.command, cfg2.command]


def test_left_out_hparams_come_from_the_resume_state_or_the_init_from_checkpoint(tmp_path: Path) -> None:
    custom = {"widths": [8, 16, 32], "blocks": [1, 1, 2]}
    cfg = config(tmp_path, steps=4, hparams=custom, val_data=[])
    train(cfg)
    resume = str(tmp_path / "model.resume.safetensors")
    resumed = config(tmp_path, steps=6, hparams=None, resume=resume, val_data=[])
    assert train(resumed).steps == 6
    assert load_model(cfg.out).module.hparams["widths"] == [8, 16, 32]
    warm = config(tmp_path, steps=1, hparams=None, init_from=cfg.out, out=str(tmp_path / "warm.safetensors"),
                  lr=0.0, warmup=1, val_data=[])  # fmt: skip
    train(warm)
    assert load_model(warm.out).module.hparams == load_model(cfg.out).module.hparams
    mismatched = config(tmp_path, steps=8, hparams={"widths": [8, 16], "blocks": [1, 1]}, resume=resume, val_data=[])
    message = 'the state was trained with --hparams \'{"affine": false, "blocks": [1, 1, 2]'
    with pytest.raises(UsageError, match=re.escape(message)):
        train(mismatched)


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"widths": [8, 16, 32], "blocks": [1, 2, 1]}, "cannot grow widths [8, 16, 32] blocks [1, 2, 1]"),
        ({"widths": [8, 16, 32, 64], "blocks": [1, 1, 1, 1]}, "it needs one more level"),
        ({"widths": [8], "blocks": [1]}, "cannot grow widths [8] blocks [1] from widths [8, 16]"),
        ({}, "--init-from needs the same architecture (tiny)"),
    ],
)
def test_init_from_an_ungrowable_source_is_refused(tmp_path: Path, hparams: dict, message: str) -> None:
    cfg = config(tmp_path, steps=2, hparams={"widths": [8, 16], "blocks": [1, 2]}, val_data=[])
    train(cfg)
    arch = "unet" if hparams else "tiny"
    bad = config(
        tmp_path, steps=1, out=str(tmp_path / "bad.safetensors"), init_from=cfg.out, hparams=hparams, arch=arch
    )
    with pytest.raises(UsageError, match=re.escape(message)):
        train(bad)


def test_l2_training_lowers_its_loss_and_records_it(tmp_path: Path) -> None:
    cfg = config(tmp_path, steps=40, loss="l2", quantize_share=1.0, val_data=[])
    result = train(cfg)
    assert result.last_loss < result.first_loss
    recorded = read_header(cfg.out).meta["training"]["config"]
    assert recorded["loss"] == "l2" and recorded["quantize_share"] == 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss", "l3", "unknown loss 'l3': use one of l1, l2, charbonnier, psnr"),
        ("quantize_share", 1.5, "--quantize-share 1.5: use a value in [0, 1]"),
        ("omega_groups", 3, "--omega-groups 3 does not divide --batch 4"),
        ("precision", "fp16", "unknown training precision 'fp16': use one of fp32, bf16"),
    ],
)
def test_bad_loss_or_quantize_share_is_refused(tmp_path: Path, field: str, value: object, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        train(config(tmp_path, **{field: value}))


def test_quantize_share_picks_which_patches_are_saved_to_8_bits() -> None:
    clean = torch.full((6, 3, 8, 8), 0.5)
    omega = torch.tensor([[0.5, 0.5]]).expand(6, 2)
    on_grid = lambda x: torch.allclose(x * 255, torch.round(x * 255), atol=1e-4)  # noqa: E731
    all_8bit = denoise.degrade(clean, omega, torch.Generator().manual_seed(0), quantize_share=1.0)
    assert all(on_grid(patch) for patch in all_8bit)
    all_float = denoise.degrade(clean, omega, torch.Generator().manual_seed(0), quantize_share=0.0)
    assert not any(on_grid(patch) for patch in all_float)


def test_split_validation_holds_aside_an_even_spread_never_trained_on(tmp_path: Path) -> None:
    files = [tmp_path / f"{i:02d}.png" for i in range(10)]
    training, held = split_validation(files, 3)
    assert [f.name for f in held] == ["01.png", "05.png", "08.png"]
    assert sorted(training + held) == files and not set(training) & set(held)
    assert split_validation(files, 0) == (files, [])
    with pytest.raises(UsageError, match=re.escape("--val-split 10 would hold aside all 10 training images")):
        split_validation(files, 10)


def test_training_with_a_validation_split_records_both_file_lists(tmp_path: Path) -> None:
    cfg = config(tmp_path, steps=2, val_data=[], val_split=1, val_every=2)
    result = train(cfg)
    assert set(result.validation) == {"psnr_sigma15", "psnr_sigma25", "psnr_sigma50"}
    training = read_header(cfg.out).meta["training"]
    all_files = list_images([Path(cfg.data[0])])
    kept, held = split_validation(all_files, 1)
    assert training["validation_files"] == [held[0].name] and training["data_files"] == 3
    assert training["data_manifest_sha256"] == manifest_sha256(kept)
    with pytest.raises(UsageError, match="--val-split and --val-data exclude each other"):
        train(config(tmp_path, val_split=1))


def test_grouped_omega_repeats_each_draw_over_its_group() -> None:
    space = denoise.alpha_space()
    omega = sample_grouped_omega(space, 12, 3, 0.2, torch.Generator().manual_seed(1))
    assert omega.shape == (12, 2)
    groups = omega.view(3, 4, 2)
    torch.testing.assert_close(groups, groups[:, :1].expand(3, 4, 2), rtol=0, atol=0)
    assert len({tuple(g[0].tolist()) for g in groups}) == 3
    # 0 or batch groups: one ω per sample, exactly sample_omega's draw
    per_sample = sample_grouped_omega(space, 12, 0, 0.2, torch.Generator().manual_seed(1))
    torch.testing.assert_close(per_sample, sample_omega(space, 12, 0.2, torch.Generator().manual_seed(1)))


def test_grouped_forward_equals_the_per_sample_forward() -> None:
    torch.manual_seed(0)
    net = build_arch("unet", {"widths": [8, 16], "blocks": [1, 1], "p": 2})
    x = torch.rand(6, 3, 16, 16)
    omega = sample_grouped_omega(denoise.alpha_space(), 6, 2, 0.0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        per_sample = net(x, omega)  # grouped convolution, one kernel mix per sample
        grouped = run_grouped(net, x.contiguous(memory_format=torch.channels_last), omega, 2)
    torch.testing.assert_close(grouped, per_sample, rtol=1e-5, atol=1e-5)


def test_bf16_training_with_shared_omega_groups_lowers_its_loss(tmp_path: Path) -> None:
    cfg = config(tmp_path, steps=40, loss="l2", omega_groups=2, precision="bf16", val_data=[])
    result = train(cfg)
    assert result.last_loss < 0.8 * result.first_loss
    recorded = read_header(cfg.out).meta["training"]["config"]
    assert (recorded["omega_groups"], recorded["precision"]) == (2, "bf16")
    weights = load_model(cfg.out).module.state_dict()
    assert all(t.dtype == torch.float32 for t in weights.values())  # the checkpoint stays fp32


def test_a_denoiser_warm_starts_the_deblurrer_with_its_alpha_mapped(tmp_path: Path) -> None:
    # deblur at (noise n, blur b) starts as the denoiser at the alpha of sigma 30·n, for every b
    cfg = config(tmp_path, steps=2, val_data=[])
    train(cfg)
    out = str(tmp_path / "deblur.safetensors")
    warm = config(tmp_path, task="deblur", steps=1, lr=0.0, warmup=1, out=out, init_from=cfg.out, hparams=None,
                  val_data=[], command="tunecli train deblur --init-from model.safetensors")  # fmt: skip
    lines: list[str] = []
    train(warm, log=lines.append)
    assert any(line.startswith("alpha mapped from denoise") for line in lines)
    source, deblurrer = load_model(cfg.out).module, load_model(out).module
    assert deblurrer.hparams["affine"] is True and deblurrer.hparams["widths"] == [8, 16]
    x = torch.rand(1, 3, 16, 16)
    for noise, blur in ((0.5, 0.0), (25 / 30, 0.7)):
        alpha = denoise.alpha_of_sigma(30 * noise)
        with torch.no_grad():
            expected = source(x, torch.tensor([1 - alpha, alpha]))
            got = deblurrer(x, torch.tensor([noise, blur]))
        assert torch.allclose(got, expected, atol=1e-5), (noise, blur)
    # a task with no map from the source's task refuses, in one line
    refused = config(tmp_path, steps=1, out=str(tmp_path / "back.safetensors"), init_from=out, hparams=None,
                     val_data=[])  # fmt: skip
    with pytest.raises(UsageError, match="a deblur model cannot warm-start a denoise model"):
        train(refused)
