"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

import tunecli.device as device_module
from tunecli.device import (
    cpu_has_native_bf16,
    inference_memory_format,
    precision_name,
    resolve_device,
    resolve_precision,
    view_precision,
)
from tunecli.errors import DeviceError, UsageError


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("tunecli.device._mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr("tunecli.device._mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("AUTO") == torch.device("cuda")


def test_explicit_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match=r"^unknown device 'tpu': use one of auto, cpu, cuda, cuda:N, mps$"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"^device 'cuda:1' requested but CUDA is not available; use --device cpu$"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match=r"^device 'cuda:3' requested but this machine has 1 CUDA device\(s\)$"):
        resolve_device("cuda:3")
    monkeypatch.setattr("tunecli.device._mps_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")


def test_precisions() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == torch.float32
    assert resolve_precision("auto", gpu) == torch.float16
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("FP32", gpu) == torch.float32
    with pytest.raises(UsageError, match=r"^unknown precision 'fp64': use auto, fp32, fp16, bf16$"):
        resolve_precision("fp64", cpu)
    assert [precision_name(d) for d in (torch.float32, torch.float16, torch.bfloat16)] == ["fp32", "fp16", "bf16"]


def test_inference_layout_is_channels_last_on_cpu_only() -> None:
    assert inference_memory_format(torch.device("cpu")) == torch.channels_last
    assert inference_memory_format(torch.device("cuda", 0)) == torch.contiguous_format
    assert inference_memory_format(torch.device("mps")) == torch.contiguous_format


@pytest.mark.parametrize(
    ("flags", "native"),
    [("fpu avx2 avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True), ("fpu avx2 avx512f avx512bw", False)],
)
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch: pytest.MonkeyPatch, flags: str, native: bool) -> None:
    monkeypatch.setattr(device_module, "_cpu_fields", lambda: {"model name": "Test CPU", "flags": flags})
    assert cpu_has_native_bf16() is native
    cpu = torch.device("cpu")
    # the tuning page: auto is bf16 only on such a CPU; an explicit precision is kept
    assert view_precision("auto", cpu) == ("bf16" if native else "auto")
    assert view_precision("FP32", cpu) == "fp32"
    assert view_precision("auto", torch.device("cuda")) == "auto"
    with pytest.raises(UsageError, match=r"^unknown precision 'fp64'"):
        view_precision("fp64", cpu)


def test_without_cpuinfo_bf16_is_not_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "_cpu_fields", lambda: None)
    assert not cpu_has_native_bf16()
    assert view_precision("auto", torch.device("cpu")) == "auto"
