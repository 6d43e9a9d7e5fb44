"""Building blocks of tunable networks (tunable convolutions, linears, parameters, baking)."""

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
    "TunableLinear",
    "TunableModule",
    "TunableParameter",
    "TunableSequential",
    "bake",
    "check_omega",
    "remap_omega",
    "tunable_modules",
]
