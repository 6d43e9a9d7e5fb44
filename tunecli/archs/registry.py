"""Registry of tunable architectures (timm-style): a name → a module class and its defaults.

Every registered class takes keyword hyper-parameters (JSON-serializable), exposes ``p`` and
:attr:`tiling`, and has ``forward(x, omega=None)`` where ``x`` is ``(B, C, H, W)`` float in
[0, 1] and ``omega`` is ``(p,)`` or ``(B, p)`` (``None``: use the ω already set or baked).
``x`` may be float32 while the weights are fp16/bf16: the network computes in its weights'
dtype and returns ``x``'s dtype (the residual networks here add their correction to ``x``
in float32, so half precision rounds the correction, not the image).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_BUILTIN_MODULES = ("tunecli.archs.reference", "tunecli.archs.unet")


@dataclass(frozen=True)
class TilingContract:
    """How a model may be tiled.

    ``scale``: output/input size ratio; ``size_multiple``: input sides (and tile offsets) must
    be multiples of it; ``receptive_radius``: input pixels each side that influence an output
    pixel (the overlap a tile needs to be exact); ``tile_exact``: no global operations, so
    tiles with enough overlap reproduce the whole-image output.
    """

    scale: int
    size_multiple: int
    receptive_radius: int
    tile_exact: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "size_multiple": self.size_multiple,
            "receptive_radius": self.receptive_radius,
            "tile_exact": self.tile_exact,
        }


@dataclass(frozen=True)
class ArchSpec:
    """A registered architecture: its class, default hyper-parameters and a one-line summary."""

    name: str
    factory: Callable[..., Any]
    defaults: dict[str, Any]
    description: str


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(name: str, description: str) -> Callable[[type], type]:
    """Class decorator registering an architecture under ``name``."""

    def decorate(cls: type) -> type:
        signature = inspect.signature(cls.__init__)
        defaults = {
            k: v.default
            for k, v in signature.parameters.items()
            if k != "self" and v.default is not inspect.Parameter.empty
        }
        original = cls.__init__

        @functools.wraps(original)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            original(self, *args, **kwargs)
            # Recorded so a checkpoint can rebuild exactly this instance.
            self.hparams = {k: _jsonable(v) for k, v in bound.arguments.items() if k != "self"}

        cls.__init__ = init  # type: ignore[misc]
        cls.arch_name = name  # type: ignore[attr-defined]
        _ARCHS[name] = ArchSpec(name, cls, defaults, description)
        return cls

    return decorate


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def list_archs() -> list[ArchSpec]:
    """All registered architectures, sorted by name."""
    _load_builtins()
    return [_ARCHS[name] for name in sorted(_ARCHS)]


def get_arch(name: str) -> ArchSpec | None:
    """The architecture registered as ``name``, or ``None``."""
    _load_builtins()
    return _ARCHS.get(name)


def build_arch(name: str, hparams: dict[str, Any]) -> Any:
    """Instantiate ``name`` with ``hparams``; raises ``KeyError`` (unknown) or ``TypeError``/
    ``ValueError`` (hyper-parameters that do not build it)."""
    spec = get_arch(name)
    if spec is None:
        raise KeyError(name)
    return spec.factory(**hparams)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
