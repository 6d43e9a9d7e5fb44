"""manifest.json: model, alphas, settings, timings and reference scores."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from tunecli.alpha import AlphaAxis, AlphaSpace, parse_sweep
from tunecli.gallery.manifest import (
    InputRecord,
    ModelRecord,
    OutputRecord,
    Quality,
    RunSettings,
    build_manifest,
    measure,
    read_manifest,
    write_manifest,
)

SPACE = AlphaSpace(2, "simplex", (AlphaAxis("gentle"), AlphaAxis("strong")), (0.5, 0.5))
MODEL = ModelRecord("denoise-unet", "/w/denoise-unet.safetensors", "ab" * 32, "unet", "denoise", 1)


def test_manifest_records_model_alphas_settings_and_outputs(tmp_path: Path) -> None:
    sweep = parse_sweep("0:1:3", SPACE)
    record = InputRecord("cat.png", "cat_denoise_sweep", reference="clean.png")
    record.outputs = [
        OutputRecord(0, "cat_denoise_a0.00.png", 0.51234567, 256, "fp32", Quality(30.123456, 0.9123456)),
        OutputRecord(1, "cat_denoise_a0.50.png", 0.4, 256, "fp32", Quality(math.inf, 1.0)),
        OutputRecord(2, "cat_denoise_a1.00.png", 0.45, 256, "fp32"),
    ]
    manifest = build_manifest(
        model=MODEL,
        space=SPACE,
        sweep=sweep,
        sweep_text="0:1:3",
        settings=RunSettings(tile=256, overlap=32, device="cpu", precision="fp32"),
        inputs=[record],
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )
    path = tmp_path / "manifest.json"
    write_manifest(path, manifest)
    data = read_manifest(path)
    assert data == json.loads(json.dumps(manifest))
    assert data["created"] == "2026-01-02T03:04:05+00:00"
    assert data["model"] == {
        "name": "denoise-unet",
        "path": "/w/denoise-unet.safetensors",
        "sha256": "ab" * 32,
        "arch": "unet",
        "task": "denoise",
        "scale": 1,
    }
    assert [a["label"] for a in data["alphas"]] == ["a0.00", "a0.50", "a1.00"]
    assert [a["alpha"] for a in data["alphas"]] == [0.0, 0.5, 1.0]
    assert data["alphas"][1]["omega"] == [0.5, 0.5]
    assert data["alphas"][2]["text"] == "alpha=1.00"
    assert data["settings"] == {"tile": 256, "overlap": 32, "device": "cpu", "precision": "fp32", "ensemble": False}
    assert data["sweep"] == {"spec": "0:1:3", "kind": "segment", "shape": [1, 3]}
    assert data["manifest_version"] == 2
    outputs = data["inputs"][0]["outputs"]
    assert outputs[0] == {
        "alpha_index": 0,
        "omega": [1.0, 0.0],
        "alpha": 0.0,
        "file": "cat_denoise_a0.00.png",
        "seconds": 0.5123,
        "tile": 256,
        "precision": "fp32",
        "psnr": 30.1235,
        "ssim": 0.912346,
    }
    # each output names its alpha's value (and its index in "alphas"), not the index as its alpha
    assert [(o["alpha_index"], o["alpha"], o["omega"]) for o in outputs] == [
        (0, 0.0, [1.0, 0.0]),
        (1, 0.5, [0.5, 0.5]),
        (2, 1.0, [0.0, 1.0]),
    ]
    assert outputs[1]["psnr"] is None and outputs[1]["ssim"] == 1.0  # identical: inf has no JSON form
    assert "psnr" not in outputs[2]
    assert data["inputs"][0]["reference"] == "clean.png"
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()


def test_measure_quantizes_to_8_bits_and_matches_psnr() -> None:
    rng = np.random.default_rng(0)
    clean = np.round(rng.random((32, 32, 3)) * 255) / 255
    assert measure(clean, clean) == Quality(math.inf, pytest.approx(1.0))
    noisy = np.clip(clean + rng.normal(0, 10 / 255, clean.shape), 0, 1)
    quantized = np.round(noisy * 255) / 255
    expected = 10 * math.log10(1 / np.mean((quantized - clean) ** 2))
    quality = measure(noisy.astype(np.float32), clean)
    assert quality.psnr == pytest.approx(expected, abs=1e-6)
    assert 0 < quality.ssim < 1


def test_measure_refuses_a_reference_of_another_size() -> None:
    with pytest.raises(ValueError, match="reference is 4x3 with 3 channel"):
        measure(np.zeros((5, 5, 3)), np.zeros((3, 4, 3)))


def test_outputs_of_a_box_sweep_carry_their_tuning_vector() -> None:
    box = AlphaSpace(2, "box", (AlphaAxis("noise"), AlphaAxis("blur")), (0.2, 0.5))
    sweep = parse_sweep("noise=0:1:2,blur=0.25:0.75:2", box)
    record = InputRecord("shot.png", "shot_deblur_sweep")
    record.outputs = [OutputRecord(k, f"shot_{k}.png", 0.1) for k in range(len(sweep.omegas))]
    manifest = build_manifest(
        model=MODEL,
        space=box,
        sweep=sweep,
        sweep_text="noise=0:1:2,blur=0.25:0.75:2",
        settings=RunSettings(tile=0, overlap=0, device="cpu", precision="fp32"),
        inputs=[record],
    )
    outputs = manifest["inputs"][0]["outputs"]
    assert [o["omega"] for o in outputs] == [[0.0, 0.25], [0.0, 0.75], [1.0, 0.25], [1.0, 0.75]]
    assert [o["alpha_index"] for o in outputs] == [0, 1, 2, 3]
    assert all("alpha" not in o for o in outputs)  # a box has no one-number alpha
