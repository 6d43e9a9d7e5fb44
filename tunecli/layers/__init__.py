"""Building blocks of tunable networks (tunable convolutions, linears, parameters, instance
normalization, baking)."""

from tunecli.layers.normalization import (
    TunableInstanceNorm,
    has_image_statistics,
    recorded_statistics,
    shared_statistics,
)
from tunecli.layers.tunable import (
    FixedConv2d,
    FixedLinear,
    FixedParameter,
    OmegaModule,
    TunableConv2d,
    TunableLinear,
    TunableModule,
    TunableParameter,
    TunableSequential,
    bake,
    check_omega,
    remap_omega,
    tunable_modules,
)

__all__ = [
    "FixedConv2d",
    "FixedLinear",
    "FixedParameter",
    "OmegaModule",
    "TunableConv2d",
    "TunableInstanceNorm",
    "TunableLinear",
    "TunableModule",
    "TunableParameter",
    "TunableSequential",
    "bake",
    "check_omega",
    "has_image_statistics",
    "recorded_statistics",
    "remap_omega",
    "shared_statistics",
    "tunable_modules",
]
