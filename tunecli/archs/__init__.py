"""Tunable architectures and their registry.

Importing this package does not import torch (checkpoint headers and ``tunecli --help`` need
only :class:`TilingContract`); the registry's names load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunecli.archs.contract import TilingContract

if TYPE_CHECKING:
    from tunecli.archs.registry import ArchSpec, TunableNet, build_arch, get_arch, list_archs, register_arch

_REGISTRY_NAMES = ("ArchSpec", "TunableNet", "build_arch", "get_arch", "list_archs", "register_arch")

__all__ = ["ArchSpec", "TilingContract", "TunableNet", "build_arch", "get_arch", "list_archs", "register_arch"]


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        from tunecli.archs import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'tunecli.archs' has no attribute {name!r}")
