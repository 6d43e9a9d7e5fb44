"""Alpha spaces: a table of good and bad inputs, lattices and sweep specs."""

from __future__ import annotations

import pytest

from tunecli.alpha import AlphaAxis, AlphaSpace, box_grid, parse_sweep, segment, simplex_lattice
from tunecli.errors import AlphaError, UsageError

SCALAR = AlphaSpace(2, "simplex", (AlphaAxis("gentle"), AlphaAxis("strong")), (0.5, 0.5), low="gentle", high="strong")
BOX = AlphaSpace(2, "box", (AlphaAxis("noise"), AlphaAxis("blur")), (0.5, 0.25))
SIMPLEX3 = AlphaSpace(3, "simplex", (AlphaAxis("starry"), AlphaAxis("wave"), AlphaAxis("scream")), (1.0, 0.0, 0.0))

GOOD = [
    (SCALAR, "0.3", (0.7, 0.3)),
    (SCALAR, " 0 ", (1.0, 0.0)),
    (SCALAR, "1", (0.0, 1.0)),
    (SCALAR, "0.2,0.8", (0.2, 0.8)),
    (SCALAR, "strong=1", (0.0, 1.0)),
    (SCALAR, "gentle=0.25,strong=0.75", (0.25, 0.75)),
    (BOX, "0.2,0.8", (0.2, 0.8)),
    (BOX, "noise=0.2,blur=0.8", (0.2, 0.8)),
    (BOX, "blur=1", (0.5, 1.0)),
    (SIMPLEX3, "starry=0.5,wave=0.5", (0.5, 0.5, 0.0)),
    (SIMPLEX3, "0.2,0.3,0.5", (0.2, 0.3, 0.5)),
]


@pytest.mark.parametrize("space,text,omega", GOOD)
def test_good_alpha(space: AlphaSpace, text: str, omega: tuple) -> None:
    parsed = space.parse(text)
    assert parsed.omega == pytest.approx(omega, abs=1e-12)
    assert parsed.notice is None


def test_simplex_is_normalized_with_notice() -> None:
    parsed = SIMPLEX3.parse("starry=1,wave=1")
    assert parsed.omega == pytest.approx((0.5, 0.5, 0.0))
    assert parsed.notice == "alpha 'starry=1,wave=1' sums to 2; normalized to 0.5,0.5,0"


BAD = [
    (SCALAR, "", "empty alpha: use a number in [0, 1] (e.g. 0.3), or gentle=V,strong=V summing to 1"),
    (SCALAR, "1.5", "alpha 1.5 is outside [0, 1]: use a number in [0, 1]"),
    (SCALAR, "-0.1", "alpha -0.1 is outside [0, 1]"),
    (SCALAR, "nan", "alpha 'nan' is not a finite number: use a number in [0, 1]"),
    (SCALAR, "inf", "is not a finite number"),
    (SCALAR, "abc", "alpha 'abc': 'abc' is not a number: use a number in [0, 1]"),
    (SCALAR, "0.1,0.2,0.7", "alpha '0.1,0.2,0.7' has 3 value(s), the model has 2 axes (gentle, strong)"),
    (SCALAR, "medium=1", "unknown alpha axis 'medium'; axes are gentle, strong"),
    (SCALAR, "strong=0.5,0.5", "mixes named and unnamed values"),
    (SCALAR, "gentle=0,strong=0", "has weights summing to 0"),
    (SCALAR, "gentle=-1,strong=2", "has a negative weight"),
    (
        BOX,
        "0.3",
        "alpha '0.3' has 1 value(s), the model has 2 axes (noise, blur): use 2 comma-separated values in [0, 1]",
    ),
    (BOX, "1.2,0", "alpha values must lie in [0, 1]: use 2 comma-separated values in [0, 1], or noise=V,blur=V"),
    (BOX, "noise=0.1,noise=0.2", "alpha axis 'noise' given twice"),
    (SIMPLEX3, "0.5", "has 1 value(s), the model has 3 axes (starry, wave, scream): use 3 comma-separated weights"),
    (SIMPLEX3, "starry=nan", "is not a finite number"),
]


@pytest.mark.parametrize("space,text,message", BAD)
def test_bad_alpha(space: AlphaSpace, text: str, message: str) -> None:
    with pytest.raises(AlphaError) as info:
        space.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_space_json_round_trip_and_labels() -> None:
    for space in (SCALAR, BOX, SIMPLEX3):
        assert AlphaSpace.from_json(space.to_json()) == space
    assert SCALAR.label((0.7, 0.3)) == "a0.30"
    assert BOX.label((0.2, 0.8)) == "a0.20-0.80"
    assert SCALAR.describe((0.7, 0.3)) == "alpha=0.30"
    assert BOX.describe((0.2, 0.8)) == "noise=0.20 blur=0.80"


@pytest.mark.parametrize("a", [0.0, 0.3, 0.5, 1.0])
def test_scalar_and_omega_of_a_p2_simplex_are_inverse(a: float) -> None:
    omega = SCALAR.omega_of_scalar(a)
    assert omega == (1.0 - a, a)
    assert SCALAR.scalar_of(omega) == a
    assert SCALAR.parse(repr(a)).omega == omega  # the convention --alpha 0.3 uses


@pytest.mark.parametrize("space", [BOX, SIMPLEX3], ids=["p2-box", "p3-simplex"])
def test_scalar_conversions_refuse_spaces_without_one_alpha(space: AlphaSpace) -> None:
    with pytest.raises(ValueError, match=r"^omega_of_scalar needs a p = 2 simplex space"):
        space.omega_of_scalar(0.3)
    with pytest.raises(
        ValueError, match=rf"^scalar_of needs a p = 2 simplex space .*not a p = {space.p} {space.domain}$"
    ):
        space.scalar_of(space.default)


def test_space_rejects_inconsistent_declaration() -> None:
    with pytest.raises(ValueError, match="p=3 but 2 axes"):
        AlphaSpace(3, "box", (AlphaAxis("a"), AlphaAxis("b")), (0, 0, 0))
    with pytest.raises(AlphaError, match="sum to 1"):
        AlphaSpace(2, "simplex", (AlphaAxis("a"), AlphaAxis("b")), (0.3, 0.3))


def test_lattices() -> None:
    assert segment(0, 1, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert segment(0.3, 0.9, 1) == [0.3]
    assert box_grid([[0, 1], [0, 0.5, 1]]) == [(0, 0), (0, 0.5), (0, 1), (1, 0), (1, 0.5), (1, 1)]
    lattice = simplex_lattice(3, 4)
    assert len(lattice) == 15  # C(4 + 2, 2)
    assert lattice[0] == (1.0, 0.0, 0.0)
    assert all(abs(sum(w) - 1) < 1e-12 and min(w) >= 0 for w in lattice)
    assert len(set(lattice)) == 15


def test_sweep_specs() -> None:
    sweep = parse_sweep("0:1:7", SCALAR)
    assert len(sweep.omegas) == 7 and sweep.shape == (1, 7)
    assert sweep.omegas[-1] == pytest.approx((0.0, 1.0))
    assert parse_sweep("0,0.25,0.9", SCALAR).omegas[2] == pytest.approx((0.1, 0.9))
    grid = parse_sweep("noise=0:1:3,blur=0:1:2", BOX)
    assert grid.shape == (3, 2) and len(grid.omegas) == 6 and grid.kind == "grid"
    assert parse_sweep("simplex:2", SIMPLEX3).omegas == tuple(simplex_lattice(3, 2))
    assert len(parse_sweep("starry=1;wave=1;0.2,0.3,0.5", SIMPLEX3).omegas) == 3


@pytest.mark.parametrize(
    "space,text,message",
    [
        (SCALAR, "0:1", "a range is start:stop:count (e.g. 0:1:7)"),
        (SCALAR, "0:1:x", "count 'x' is not a whole number"),
        (SCALAR, "0:1:1000", "count must be between 1 and 64"),
        (SCALAR, "0:2:3", "alpha 2.0 is outside [0, 1]"),
        (BOX, "simplex:3", "simplex lattices need a simplex model"),
        (SIMPLEX3, "0:1:3", "this model has 3 axes; use simplex:N or A;B;C"),
        (BOX, "depth=0:1:3", "unknown axis 'depth'"),
        (SIMPLEX3, "simplex:x", "use simplex:N with N a whole number"),
        (SCALAR, "auto", "sweep 'auto': a sweep takes fixed alphas, not auto"),
        (SCALAR, "0;Auto", "a sweep takes fixed alphas, not auto"),
        (BOX, "noise=auto,blur=0:1:3", "a sweep takes fixed alphas, not auto"),
    ],
)
def test_bad_sweeps(space: AlphaSpace, text: str, message: str) -> None:
    with pytest.raises(AlphaError, match=None) as info:
        parse_sweep(text, space)
    assert message in str(info.value)
