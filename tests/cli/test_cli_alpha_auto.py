"""``--alpha auto`` on the task commands and ``alpha="auto"`` in the API: the note line, the JSON
record, per-image output names, the task's mapping, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import BOX, ModelFactory
from PIL import Image as PILImage
from typer.testing import Result

from tunecli.api import load
from tunecli.estimation.noise import estimate_noise_sigma
from tunecli.imageio import read_image
from tunecli.runner import OutputOptions, plan_jobs, run_batch

RunCli = Callable[..., Result]


def write_noisy(path: Path, sigma: float, seed: int = 0, size: tuple[int, int] = (64, 80), mode: str = "RGB") -> Path:
    """A smooth colour ramp plus seeded noise of ``sigma`` (0–255), saved as an 8-bit PNG."""
    height, width = size
    ramp = np.linspace(0.25, 0.75, width)[None, :, None] * np.array([1.0, 0.8, 0.6]) + 0.1
    clean = np.broadcast_to(ramp, (height, width, 3))
    noisy = clean + np.random.default_rng(seed).standard_normal(clean.shape) * sigma / 255
    samples = np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(samples[:, :, 0] if mode == "L" else samples, mode).save(path)
    return path


def estimate(path: Path) -> float:
    return estimate_noise_sigma(read_image(path).pixels)


def denoise_alpha(sigma: float) -> float:
    """The denoise task's mapping, rounded as the label is: (σ − 5)/45 clipped to [0, 1]."""
    return round(min(1.0, max(0.0, (sigma - 5) / 45)), 2)


def test_auto_prints_the_estimate_and_names_the_output_after_the_alpha(
    run_cli: RunCli, model: Path, tmp_path: Path
) -> None:
    source = write_noisy(tmp_path / "photo.png", 20.0)
    sigma = estimate(source)
    alpha = denoise_alpha(sigma)
    assert 0.25 < alpha < 0.42  # σ 20 → about 0.33
    result = run_cli("denoise", "-m", model, "--alpha", "auto", source)
    assert result.exit_code == 0, result.output
    target = tmp_path / f"photo_denoise_a{alpha:.2f}.png"
    note = f"note: photo.png: noise sigma ≈ {sigma:.1f} → alpha {alpha:.2f}\n"
    assert note in result.stderr
    assert f"wrote: {target}" in result.stderr
    # the note says why the output has its name, so it comes first
    assert result.stderr.index(note) < result.stderr.index(f"wrote: {target}")
    assert "denoise-test alpha auto" in result.stderr  # the summary line
    expected = load(model, device="cpu").run(np.asarray(PILImage.open(source)), alpha=alpha)
    assert np.array_equal(np.asarray(PILImage.open(target)), expected)


def test_json_records_sigma_and_alpha_per_file(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    quiet = write_noisy(tmp_path / "in" / "a.png", 8.0, seed=1)
    loud = write_noisy(tmp_path / "in" / "b.png", 35.0, seed=2)
    result = run_cli("denoise", "-m", model, "-a", "auto", tmp_path / "in", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["alpha"] == "auto" and summary["alpha_label"] is None
    for record, source in zip(summary["files"], (quiet, loud), strict=True):
        sigma = estimate(source)
        alpha = denoise_alpha(sigma)
        assert record["alpha_auto"]["sigma"] == round(sigma, 2)
        assert record["alpha_auto"]["alpha"] == pytest.approx([1 - alpha, alpha])
        assert record["output"] == str(tmp_path / "out" / f"{source.stem}_denoise_a{alpha:.2f}.png")
        assert record["notices"][0] == f"noise sigma ≈ {sigma:.1f} → alpha {alpha:.2f}"
        assert Path(record["output"]).is_file()
    first, second = (r["alpha_auto"]["alpha"][1] for r in summary["files"])
    assert first < second  # more noise, stronger


def test_deblur_sets_noise_from_the_estimate_and_keeps_the_default_blur(
    run_cli: RunCli, make_model: ModelFactory, tmp_path: Path
) -> None:
    model = make_model("deblur", space=BOX)  # axes noise, blur; default (0.5, 0.5)
    source = write_noisy(tmp_path / "scan.png", 12.0)
    sigma = estimate(source)
    noise = round(min(1.0, sigma / 30), 2)
    result = run_cli("deblur", "-m", model, "-a", "auto", source, "--json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["files"]
    assert record["alpha_auto"]["alpha"] == pytest.approx([noise, 0.5])
    assert record["output"].endswith(f"scan_deblur_a{noise:.2f}-0.50.png")
    assert f"note: scan.png: noise sigma ≈ {sigma:.1f} → noise={noise:.2f} blur=0.50" in result.stderr


def test_deblur_takes_noise_auto_with_a_given_blur(run_cli: RunCli, make_model: ModelFactory, tmp_path: Path) -> None:
    model = make_model("deblur", space=BOX)
    source = write_noisy(tmp_path / "scan.png", 12.0)
    noise = round(min(1.0, estimate(source) / 30), 2)
    result = run_cli("deblur", "-m", model, "-a", "noise=auto,blur=0.8", source, "--json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["files"]
    assert record["alpha_auto"]["alpha"] == pytest.approx([noise, 0.8])
    assert record["output"].endswith(f"scan_deblur_a{noise:.2f}-0.80.png")
    refused = run_cli("deblur", "-m", model, "-a", "blur=auto", source)
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "deblur-test estimates only noise from the image, not blur" in refused.stderr
    simplex = run_cli("denoise", "-m", make_model("denoise"), "-a", "gentle=auto", source)
    assert simplex.exit_code == 2 and "only a box model takes auto for one axis" in simplex.stderr


@pytest.mark.parametrize(
    "task,arch,hparams", [("style", "tiny", None), ("upscale", "test-upsampler", {})], ids=["style", "upscale"]
)
def test_tasks_without_a_noise_mapping_refuse_auto_in_one_line(
    run_cli: RunCli, make_model: ModelFactory, tmp_path: Path, task: str, arch: str, hparams: dict | None
) -> None:
    model = make_model(task, arch=arch, hparams=hparams)
    source = write_noisy(tmp_path / "pic.png", 20.0)
    result = run_cli(task, "-m", model, "-a", "auto", source)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --alpha auto picks alpha from the image's noise level, which only ")
    assert "denoise and deblur models" in result.stderr and f"{task}-test is for {task}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "pic.png"]


def test_auto_with_a_sweep_is_refused(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    source = write_noisy(tmp_path / "pic.png", 20.0)
    result = run_cli("denoise", "-m", model, "-a", "auto", "--sweep", "0:1:3", source)
    assert result.exit_code == 2
    assert result.stderr == "error: --alpha auto picks one alpha per image and --sweep sets the alphas; pass one\n"


def test_a_sweep_of_auto_says_sweeps_take_fixed_alphas(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    source = write_noisy(tmp_path / "pic.png", 20.0)
    result = run_cli("denoise", "-m", model, "--sweep", "auto", source)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: sweep 'auto': a sweep takes fixed alphas, not auto")


def test_existing_outputs_are_checked_under_their_chosen_name(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    source = write_noisy(tmp_path / "pic.png", 20.0)
    target = tmp_path / f"pic_denoise_a{denoise_alpha(estimate(source)):.2f}.png"
    target.write_bytes(b"keep me")
    failed = run_cli("denoise", "-m", model, "-a", "auto", source)
    assert failed.exit_code == 1 and f"{target}: already exists" in failed.stderr
    skipped = run_cli("denoise", "-m", model, "-a", "auto", source, "--skip-existing", "--json")
    assert skipped.exit_code == 0 and json.loads(skipped.stdout)["skipped"] == 1
    assert target.read_bytes() == b"keep me"
    assert run_cli("denoise", "-m", model, "-a", "auto", source, "--overwrite").exit_code == 0
    assert target.read_bytes() != b"keep me"


def test_an_existing_output_stops_auto_as_it_stops_a_plain_run_and_no_model_runs(
    run_cli: RunCli, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same line and exit code as without auto; a name that does not depend on the alpha
    (-o FILE, a suffix without {alpha}) is refused before the estimate, one that does after the
    estimate only (it names the file) — the model never runs."""
    from tunecli.api import Restorer

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed for an output that exists")

    source = write_noisy(tmp_path / "pic.png", 20.0)
    fixed, clean = tmp_path / "kept.png", tmp_path / "pic_clean.png"
    chosen = tmp_path / f"pic_denoise_a{denoise_alpha(estimate(source)):.2f}.png"
    for path in (fixed, clean, chosen):
        path.write_bytes(b"keep me")
    refused = "already exists (use --overwrite to replace it or --skip-existing to keep it)"
    monkeypatch.setattr(Restorer, "restore", never)
    for given, target in ((["-o", fixed], fixed), (["--suffix", "_clean"], clean)):
        plain = run_cli("denoise", "-m", model, "-a", "0.3", *given, source)
        with monkeypatch.context() as estimating:
            estimating.setattr(Restorer, "auto_alpha", never)
            auto = run_cli("denoise", "-m", model, "-a", "auto", *given, source)
        assert auto.exit_code == plain.exit_code == 1
        assert auto.stderr.splitlines()[0] == plain.stderr.splitlines()[0] == f"failed: {source}: {target}: {refused}"
    named = run_cli("denoise", "-m", model, "-a", "auto", source)
    assert named.exit_code == 1 and named.stderr.startswith(f"failed: {source}: {chosen}: {refused}")
    assert {path.read_bytes() for path in (fixed, clean, chosen)} == {b"keep me"}


def test_an_output_file_name_is_kept_and_quiet_hides_the_note(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    source = write_noisy(tmp_path / "pic.png", 20.0, mode="L")
    result = run_cli("denoise", "-m", model, "-a", "auto", source, "-o", tmp_path / "clean.png", "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert (tmp_path / "clean.png").is_file()


def test_an_image_too_small_to_estimate_fails_alone(run_cli: RunCli, model: Path, tmp_path: Path) -> None:
    tiny = write_noisy(tmp_path / "in" / "tiny.png", 20.0, size=(5, 5))
    write_noisy(tmp_path / "in" / "fine.png", 20.0)
    result = run_cli("denoise", "-m", model, "-a", "auto", tmp_path / "in")
    assert result.exit_code == 3
    assert f"failed: {tiny}: cannot estimate the noise level for --alpha auto" in result.stderr
    assert len(list((tmp_path / "in").glob("fine_denoise_a*.png"))) == 1


def test_runner_bakes_once_per_chosen_alpha(model: Path, tmp_path: Path) -> None:
    """Images of the same noise level round to the same ω and share one baked network."""
    for name in ("a", "b"):
        write_noisy(tmp_path / "in" / f"{name}.png", 20.0)  # same seed: the same estimate
    write_noisy(tmp_path / "in" / "c.png", 40.0, seed=3)
    restorer = load(model, device="cpu")
    plan = plan_jobs([tmp_path / "in"], task="denoise", label="auto", options=OutputOptions(), label_per_image=True)
    summary = run_batch(restorer, plan, "auto", options=OutputOptions())
    chosen = [r.alpha_auto.omega for r in summary.results if r.alpha_auto is not None]
    assert len(chosen) == 3 and chosen[0] == chosen[1] != chosen[2]
    assert {omega for omega, _ in restorer._baked} == set(chosen)
    assert [r.job.target.name for r in summary.results][2] == f"c_denoise_a{chosen[2][1]:.2f}.png"


def test_api_run_auto_records_the_estimate(model: Path, tmp_path: Path) -> None:
    source = write_noisy(tmp_path / "pic.png", 20.0)
    restorer = load(model, device="cpu")
    chosen = restorer.auto_alpha(read_image(source))
    image = restorer.run(source, alpha="auto")
    assert image.meta.extra["alpha_auto"] == chosen.to_json()
    assert image.meta.notices[-1] == chosen.describe(restorer.alpha_space)
    assert np.array_equal(image.pixels, restorer.run(source, alpha=chosen.omega).pixels)
    array = np.asarray(PILImage.open(source))
    assert np.array_equal(restorer.run(array, alpha="auto"), restorer.run(array, alpha=chosen.omega))
    restored = restorer.restore(read_image(source), chosen)
    assert restored.alpha_auto == chosen and restored.notices[0] == chosen.describe(restorer.alpha_space)


def test_api_refuses_auto_for_a_model_without_a_mapping(make_model: ModelFactory, tmp_path: Path) -> None:
    from tunecli.errors import AlphaError

    restorer = load(make_model("style"), device="cpu")
    with pytest.raises(AlphaError, match="--alpha auto picks alpha"):
        restorer.run(tmp_path / "never-read.png", alpha="auto")
