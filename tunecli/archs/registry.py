"""Registry of tunable architectures (timm-style): a name → a module class and its defaults.

Every registered class is a :class:`TunableNet`: it takes keyword hyper-parameters
(JSON-serializable), exposes ``p``, ``channels`` and :attr:`~TunableNet.tiling`, and has
``forward(x, omega)`` where ``x`` is ``(B, channels, H, W)`` float in [0, 1] and ``omega`` is
``(p,)`` or ``(B, p)`` (``None`` only for a baked copy, see :func:`tunecli.layers.bake`).
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
from typing import Any, ClassVar

from tunecli.archs.contract import TilingContract
from tunecli.layers import OmegaModule

_BUILTIN_MODULES = ("tunecli.archs.reference", "tunecli.archs.unet", "tunecli.archs.srnet", "tunecli.archs.stylenet")


class TunableNet(OmegaModule):
    """The contract every registered architecture obeys (the runtime relies on nothing else).

    Subclasses set ``p`` (kernels per tunable layer) and ``channels`` (image channels in and
    out) in ``__init__`` and define :attr:`tiling`; ``forward(x, omega)`` maps ``(B, channels,
    H, W)`` float in [0, 1] (H, W multiples of ``tiling.size_multiple``) to ``(B, channels,
    H·scale, W·scale)`` at ω ``(p,)`` or ``(B, p)``. :func:`register_arch` adds ``arch_name``
    and records the constructor's arguments as ``hparams``.
    """

    arch_name: ClassVar[str]
    hparams: dict[str, Any]
    p: int
    channels: int

    @property
    def tiling(self) -> TilingContract:
        raise NotImplementedError

    def forward(self, x: Any, omega: Any = None) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class ArchSpec:
    """A registered architecture: its class, default hyper-parameters and a one-line summary."""

    name: str
    factory: Callable[..., TunableNet]
    defaults: dict[str, Any]
    description: str


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(name: str, description: str) -> Callable[[type[TunableNet]], type[TunableNet]]:
    """Class decorator registering a :class:`TunableNet` subclass under ``name``; a name that is
    already registered (by another class) raises ``ValueError``."""

    def decorate(cls: type[TunableNet]) -> type[TunableNet]:
        if not (isinstance(cls, type) and issubclass(cls, TunableNet)):
            raise TypeError(f"architecture {name!r}: {cls!r} is not a TunableNet subclass")
        existing = _ARCHS.get(name)
        if existing is not None and existing.factory.__qualname__ != cls.__qualname__:
            raise ValueError(f"architecture {name!r} is already registered ({existing.factory.__qualname__})")
        if existing is not None and existing.factory.__module__ != cls.__module__:
            raise ValueError(f"architecture {name!r} is already registered in {existing.factory.__module__}")
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

        cls.__init__ = init  # type: ignore[method-assign]
        cls.arch_name = name
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


def build_arch(name: str, hparams: dict[str, Any]) -> TunableNet:
    """Instantiate ``name`` with ``hparams``; raises ``KeyError`` (unknown) or ``TypeError``/
    ``ValueError`` (hyper-parameters that do not build it)."""
    spec = get_arch(name)
    if spec is None:
        raise KeyError(name)
    return spec.factory(**hparams)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
