"""The tiling contract of an architecture (no torch import: checkpoint headers carry it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
