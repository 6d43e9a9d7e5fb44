"""Device and precision selection for inference (``--device``, ``--precision``).

``auto`` device: CUDA, then MPS, then CPU. ``auto`` precision: float16 on a GPU (the runner
retries an image in float32 when the half-precision output is not finite), float32 on CPU. The
live tuning page (``tunecli tune``) alone takes bfloat16 on a CPU with native bfloat16 arithmetic
(:func:`view_precision`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

from tunecli.errors import DeviceError, UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str = "auto") -> torch.device:
    """The device named by ``--device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Raises :class:`~tunecli.errors.UsageError` for a malformed name and
    :class:`~tunecli.errors.DeviceError` for a device this machine does not have.
    """
    text = spec.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"unknown device {spec!r}: use one of {', '.join(DEVICE_CHOICES)}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} requested but CUDA is not available; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {spec!r} requested but this machine has {count} CUDA device(s)")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise DeviceError(f"device {spec!r} requested but MPS is not available; use --device cpu")
        return device
    raise UsageError(f"unknown device {spec!r}: use one of {', '.join(DEVICE_CHOICES)}")


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``--precision`` (``auto``, ``fp32``, ``fp16``, ``bf16``) on ``device``."""
    text = spec.strip().lower()
    if text == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if text not in PRECISIONS:
        raise UsageError(f"unknown precision {spec!r}: use auto, {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[text]
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"precision bf16 is not supported by {device}; use fp16 or fp32")
    return dtype


def view_precision(spec: str, device: torch.device) -> str:
    """The ``--precision`` text the live tuning page computes at for ``--precision spec``: ``bf16``
    for ``auto`` on a CPU with native bfloat16 arithmetic (:func:`cpu_has_native_bf16`), where the
    shipped denoiser ran 2.1x faster than in fp32 and within 1.5/255 of it (PSNR 60-67 dB between
    the two at alphas 0-1; ``bench/tune_latency.py``); ``spec`` otherwise. Raises what
    :func:`resolve_precision` raises."""
    resolve_precision(spec, device)
    if spec.strip().lower() == "auto" and device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return spec.strip().lower()


def precision_name(dtype: torch.dtype) -> str:
    """``fp32``/``fp16``/``bf16`` for a dtype from :data:`PRECISIONS`."""
    for name, value in PRECISIONS.items():
        if value == dtype:
            return name
    raise ValueError(f"unsupported dtype {dtype}")


def compute_text(device: str, precision: str, ensemble: bool) -> str:
    """How a model runs, for summary lines and gallery notes: ``"cpu fp32"``,
    ``"cuda:0 fp16 · ensemble x8"``."""
    return f"{device} {precision}" + (" · ensemble x8" if ensemble else "")


def inference_memory_format(device: torch.device) -> torch.memory_format:
    """How a baked network's conv weights are laid out on ``device``: channels-last on a CPU,
    where oneDNN then runs the whole network in that layout (the shipped denoiser ran 1.4-1.7x
    faster on the 2-core CI machine, same output to float rounding; ``bench/arch_speed.py``), and
    PyTorch's default elsewhere (not measured on GPUs). Inputs and outputs stay ``(B, C, H, W)``."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


@cache
def _cpu_fields() -> dict[str, str] | None:
    """The first processor's block of ``/proc/cpuinfo`` as ``{key: value}``; None where that file
    does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():  # "key<tabs>: value"; the first processor's block is enough
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag of
    ``/proc/cpuinfo``); False where that file does not exist (oneDNN then emulates bfloat16, which
    is no faster than fp32)."""
    fields = _cpu_fields()
    flags = set(fields.get("flags", "").split()) if fields is not None else set()
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_model() -> str:
    """The CPU's model name and the matrix/vector extensions that set convolution speed on it
    (``"AMD EPYC (AVX2)"``, ``"Intel Xeon ... (AVX-512, AMX-BF16)"``), read from
    ``/proc/cpuinfo``; the platform's processor string where that file does not exist."""
    import platform

    fields = _cpu_fields()
    if fields is None:
        return platform.processor() or platform.machine()
    name = " ".join(fields.get("model name", platform.machine()).split())
    flags = set(fields.get("flags", "").split())
    extensions = [
        label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("amx_bf16", "AMX-BF16")) if flag in flags
    ]
    if "AVX-512" in extensions:
        extensions.remove("AVX2")
    return f"{name} ({', '.join(extensions)})" if extensions else name


def describe_host() -> str:
    """One line naming this machine for benchmark results: the CPU (:func:`cpu_model`), torch's
    thread count, torch's version and, where present, the CUDA device."""
    line = f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if torch.cuda.is_available():
        line += f"; {torch.cuda.get_device_name()}"
    return line
