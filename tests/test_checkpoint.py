"""Checkpoints: exact round trip, one error type per kind of damage, no unpickling."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.archs import build_arch
from tunecli.checkpoint import read_header, save_checkpoint
from tunecli.errors import (
    CheckpointMetadataError,
    CheckpointNotFoundError,
    CheckpointVersionError,
    HyperParameterError,
    ModelNotFoundError,
    NotSafetensorsError,
    ShapeMismatchError,
    TruncatedCheckpointError,
    UnknownArchitectureError,
)
from tunecli.models import find_model, load_model, model_metadata, shipped_models

SPACE = AlphaSpace(2, "simplex", (AlphaAxis("gentle", "low noise"), AlphaAxis("strong", "heavy noise")), (0.5, 0.5))


def write_tiny(path: Path, **extra: object) -> torch.nn.Module:
    net = build_arch("tiny", {"p": 2, "width": 4})
    meta = model_metadata(net, task="denoise", alpha_space=SPACE, extra={"license": "MIT", **extra})
    save_checkpoint(path, net.state_dict(), meta)
    return net


def rewrite_meta(path: Path, target: Path, change: dict) -> None:
    """Copy a checkpoint with its tunecli metadata edited (tensor bytes untouched)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["tunecli"])
    meta.update(change)
    header["__metadata__"]["tunecli"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    target.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_round_trip_preserves_tensors_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    net = write_tiny(path, training={"command": "tunecli train denoise", "steps": 7})
    loaded = load_model(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value), key
    meta = read_header(path).meta
    assert meta["format_version"] == 1
    assert meta["arch"] == "tiny" and meta["hparams"] == {"channels": 3, "width": 4, "p": 2, "affine": False}
    assert meta["training"] == {"command": "tunecli train denoise", "steps": 7}
    assert meta["tiling"] == {"scale": 1, "size_multiple": 1, "receptive_radius": 3, "tile_exact": True}
    assert loaded.alpha_space == SPACE
    assert loaded.task == "denoise" and len(loaded.sha256) == 64
    assert not loaded.module.training


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"nope\.safetensors: checkpoint file not found"):
        load_model(tmp_path / "nope.safetensors")


def test_pickle_renamed_is_refused_without_executing(tmp_path: Path) -> None:
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):  # runs on unpickling only
            return (marker.write_text, ("pwned",))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(NotSafetensorsError, match=r"evil\.safetensors: not a safetensors file"):
        load_model(path)
    torch.save({"w": torch.zeros(2)}, tmp_path / "zip.safetensors")
    with pytest.raises(NotSafetensorsError, match="not a safetensors file"):
        load_model(tmp_path / "zip.safetensors")
    assert not marker.exists()


def test_zero_byte_and_text_files(tmp_path: Path) -> None:
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(NotSafetensorsError, match=r"empty.safetensors: not a safetensors file \(only 0 bytes\)"):
        load_model(tmp_path / "empty.safetensors")
    (tmp_path / "text.safetensors").write_text("hello world, not a model at all")
    with pytest.raises(NotSafetensorsError, match=r"text\.safetensors"):
        load_model(tmp_path / "text.safetensors")


def test_truncated(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_tiny(path)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TruncatedCheckpointError, match=r"cut\.safetensors: checkpoint is truncated"):
        load_model(cut)
    head_cut = tmp_path / "headcut.safetensors"
    head_cut.write_bytes(path.read_bytes()[:40])
    with pytest.raises(TruncatedCheckpointError, match="header cut short"):
        load_model(head_cut)


def test_plain_safetensors_without_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointMetadataError, match="without tunecli metadata"):
        load_model(tmp_path / "plain.safetensors")


@pytest.mark.parametrize(
    "change,error,message",
    [
        ({"format_version": 99}, CheckpointVersionError, "format version 99; this tunecli reads version 1"),
        ({"arch": "resnet9000"}, UnknownArchitectureError, "unknown architecture 'resnet9000'"),
        ({"hparams": {"width": 4, "depth": 9}}, HyperParameterError, "hyper-parameters do not build 'tiny'"),
        ({"hparams": {"width": 6, "p": 2}}, ShapeMismatchError, "shape mismatch"),
        ({"hparams": {"width": 4, "p": 3}}, ShapeMismatchError, "tensors do not match 'tiny'"),
        ({"alpha_space": {"p": 2}}, CheckpointMetadataError, "malformed alpha space"),
    ],
)
def test_metadata_damage(tmp_path: Path, change: dict, error: type, message: str) -> None:
    path = tmp_path / "m.safetensors"
    write_tiny(path)
    bad = tmp_path / "bad.safetensors"
    rewrite_meta(path, bad, change)
    with pytest.raises(error) as info:
        load_model(bad)
    assert message in str(info.value) and str(bad) in str(info.value)


def test_shipped_models_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny(tmp_path / "my-denoiser.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    monkeypatch.setenv("TUNECLI_WEIGHTS", str(tmp_path))
    names = [info.name for info in shipped_models()]
    assert "my-denoiser" in names and "broken" not in names
    info = find_model("my-denoiser")
    assert info.task == "denoise" and info.alpha_space.p == 2 and info.parameters > 0
    with pytest.raises(ModelNotFoundError, match="no model named 'missing'"):
        find_model("missing")


def test_save_is_atomic_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_tiny(path)
    before = path.read_bytes()
    with pytest.raises(AttributeError):
        save_checkpoint(path, {"w": "not a tensor"}, {})  # type: ignore[dict-item]
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
