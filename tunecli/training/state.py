"""Resumable training state: networks and their AdamW moments as safetensors (no pickle).

A state file holds, under one prefix per part, the generator network (``model.``), its
optimizer (``optim.``), and when the run is adversarial the discriminator (``disc.``) and its
optimizer (``doptim.``); the step, wall time and config live in the metadata. Schedules and
batches are functions of the step, so nothing else is needed to continue exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tunecli.checkpoint import load_tensors, read_header, save_checkpoint
from tunecli.errors import UsageError

RESUME_SUFFIX = ".resume.safetensors"
_MOMENTS = ("exp_avg", "exp_avg_sq")


@dataclass(frozen=True)
class TrainedPart:
    """A network and its optimizer, saved under ``prefix`` (``model``/``disc``) and
    ``optimizer_prefix`` (``optim``/``doptim``)."""

    prefix: str
    optimizer_prefix: str
    net: nn.Module
    optimizer: torch.optim.Optimizer


def resume_path(out: Path) -> Path:
    """Where the resumable state of the checkpoint ``out`` goes."""
    return out.with_name(out.name.removesuffix(".safetensors") + RESUME_SUFFIX)


def _optimizer_params(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def save_state(path: Path, parts: Sequence[TrainedPart], meta: dict[str, Any]) -> None:
    """Write every part's weights and AdamW moments (and step counts) to ``path``."""
    tensors: dict[str, Tensor] = {}
    for part in parts:
        tensors.update({f"{part.prefix}.{k}": v for k, v in part.net.state_dict().items()})
        for index, param in enumerate(_optimizer_params(part.optimizer)):
            state = part.optimizer.state.get(param, {})
            for key in _MOMENTS:
                if key in state:
                    tensors[f"{part.optimizer_prefix}.{index}.{key}"] = state[key]
            if "step" in state:
                step = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1)
                tensors[f"{part.optimizer_prefix}.{index}.step"] = step
    save_checkpoint(path, tensors, meta)


def load_state(path: Path, parts: Sequence[TrainedPart]) -> dict[str, Any]:
    """Restore every part from ``path`` (written by :func:`save_state`); returns the metadata.

    Raises :class:`~tunecli.errors.UsageError` for a file that is not a training state, one
    whose networks do not match (other ``--hparams``), or one that lacks a part (e.g. resuming
    an adversarial run from a state that has no discriminator).
    """
    header = read_header(path)
    if "resume" not in header.meta:
        raise UsageError(f"{path}: not a resumable training state (use the {RESUME_SUFFIX} file)")
    tensors = load_tensors(header)
    for part in parts:
        start = f"{part.prefix}."
        weights = {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}
        if not weights:
            raise UsageError(f"{path}: the state holds no {part.prefix!r} network; it was saved by another kind of run")
        try:
            part.net.load_state_dict(weights, strict=True)
        except RuntimeError:
            if part.prefix == "model":
                raise UsageError(
                    f"{path}: the state was trained with --hparams '{json.dumps(header.meta.get('hparams'))}', "
                    "which this command's --hparams do not match; leave --hparams out to use the state's"
                ) from None
            raise UsageError(f"{path}: the state's {part.prefix!r} network does not match this run's") from None
        for index, param in enumerate(_optimizer_params(part.optimizer)):
            key = f"{part.optimizer_prefix}.{index}"
            if f"{key}.exp_avg" in tensors:
                part.optimizer.state[param] = {  # moments live with their parameter, the step count on the CPU
                    "step": tensors[f"{key}.step"].reshape(()),
                    "exp_avg": tensors[f"{key}.exp_avg"].to(param.device),
                    "exp_avg_sq": tensors[f"{key}.exp_avg_sq"].to(param.device),
                }
    return header.meta
