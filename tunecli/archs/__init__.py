"""Tunable architectures and their registry."""

from tunecli.archs.registry import ArchSpec, TilingContract, build_arch, get_arch, list_archs, register_arch

__all__ = ["ArchSpec", "TilingContract", "build_arch", "get_arch", "list_archs", "register_arch"]
