"""Building blocks of tunable networks (tunable convolutions, linears, parameters, baking)."""

from tunecli.layers.tunable import (
    FixedParameter,
    TunableConv2d,
    TunableLinear,
    TunableModule,
    TunableParameter,
    bake,
    set_omega,
    tunable_modules,
    tuned,
)

__all__ = [
    "FixedParameter",
    "TunableConv2d",
    "TunableLinear",
    "TunableModule",
    "TunableParameter",
    "bake",
    "set_omega",
    "tunable_modules",
    "tuned",
]
