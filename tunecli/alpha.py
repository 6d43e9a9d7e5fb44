"""Alpha spaces: what a tuning vector means, how users write it, and sweep lattices.

A tunable model declares an :class:`AlphaSpace` (SPEC §3): ``p`` axes, a domain (``simplex``:
ω ≥ 0 and Σω = 1; ``box``: each ωi in [0, 1]), a name and meaning per axis, and a default.
This module is pure Python (no torch) so the CLI can validate input before loading anything.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tunecli.errors import AlphaError

Domain = Literal["simplex", "box"]
Omega = tuple[float, ...]

_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class AlphaAxis:
    """One axis of an alpha space: a short name (``noise``) and what raising it does."""

    name: str
    meaning: str = ""


@dataclass(frozen=True)
class ParsedAlpha:
    """A validated tuning vector and an optional notice (e.g. "normalized to sum 1")."""

    omega: Omega
    notice: str | None = None


@dataclass(frozen=True)
class AlphaSpace:
    """The tuning space of a model.

    For ``p == 2`` simplex spaces the user-facing scalar ``alpha`` is the weight of the second
    axis: ``alpha = a`` means ω = (1 − a, a) (:meth:`omega_of_scalar`, :meth:`scalar_of`);
    ``low``/``high`` say what alpha 0 and 1 do.
    """

    p: int
    domain: Domain
    axes: tuple[AlphaAxis, ...]
    default: Omega
    low: str = ""
    high: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.p < 1:
            raise ValueError("an alpha space needs p >= 1")
        if self.domain not in ("simplex", "box"):
            raise ValueError(f"unknown alpha domain {self.domain!r}")
        if len(self.axes) != self.p:
            raise ValueError(f"alpha space has p={self.p} but {len(self.axes)} axes")
        names = [a.name for a in self.axes]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate alpha axis names: {names}")
        self.validate(self.default)

    # ---- description -------------------------------------------------------------------
    @property
    def scalar(self) -> bool:
        """True when the space is a p = 2 simplex, written by users as one number."""
        return self.domain == "simplex" and self.p == 2

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def omega_of_scalar(self, a: float) -> Omega:
        """ω = (1 − a, a) for the scalar ``a`` of a :attr:`scalar` space (not validated: see
        :meth:`validate`). Raises ``ValueError`` for any other space (p != 2, or a box)."""
        self._check_scalar("omega_of_scalar")
        return (1.0 - a, a)

    def scalar_of(self, omega: Omega) -> float:
        """The scalar alpha of ``omega`` in a :attr:`scalar` space: its second weight (the inverse
        of :meth:`omega_of_scalar`). Raises ``ValueError`` for any other space."""
        self._check_scalar("scalar_of")
        return float(omega[1])

    def _check_scalar(self, name: str) -> None:
        if not self.scalar:
            raise ValueError(
                f"{name} needs a p = 2 simplex space (alpha a means ω = (1 − a, a)), not a p = {self.p} {self.domain}"
            )

    def allowed_form(self) -> str:
        """One phrase telling the user what ``--alpha`` accepts for this space."""
        named = ",".join(f"{n}=V" for n in self.names)
        if self.scalar:
            return f"a number in [0, 1] (e.g. 0.3), or {named} summing to 1"
        if self.domain == "simplex":
            return f"{self.p} comma-separated weights >= 0 summing to 1, or {named} (unnamed = 0)"
        return f"{self.p} comma-separated values in [0, 1], or {named} (unnamed = default)"

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in checkpoint metadata (SPEC §7)."""
        data: dict[str, Any] = {
            "p": self.p,
            "domain": self.domain,
            "axes": [{"name": a.name, "meaning": a.meaning} for a in self.axes],
            "default": list(self.default),
            "low": self.low,
            "high": self.high,
        }
        if self.extra:
            data["extra"] = self.extra
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlphaSpace:
        """Inverse of :meth:`to_json`; raises ``ValueError``/``KeyError`` on malformed data."""
        return cls(
            p=int(data["p"]),
            domain=data["domain"],
            axes=tuple(AlphaAxis(a["name"], a.get("meaning", "")) for a in data["axes"]),
            default=tuple(float(v) for v in data["default"]),
            low=data.get("low", ""),
            high=data.get("high", ""),
            extra=dict(data.get("extra", {})),
        )

    # ---- validation and parsing --------------------------------------------------------
    def validate(self, omega: Omega) -> Omega:
        """Return ``omega`` as floats if it lies in the domain, else raise :class:`AlphaError`."""
        values = tuple(float(v) for v in omega)
        if len(values) != self.p:
            raise AlphaError(f"alpha needs {self.p} values, got {len(values)}: use {self.allowed_form()}")
        if any(not math.isfinite(v) for v in values):
            raise AlphaError(f"alpha values must be finite numbers: use {self.allowed_form()}")
        if self.domain == "box":
            if any(v < 0 or v > 1 for v in values):
                raise AlphaError(f"alpha values must lie in [0, 1]: use {self.allowed_form()}")
        else:
            if any(v < 0 for v in values):
                raise AlphaError(f"alpha weights must be >= 0: use {self.allowed_form()}")
            if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
                raise AlphaError(f"alpha weights must sum to 1: use {self.allowed_form()}")
        return values

    def parse(self, text: str) -> ParsedAlpha:
        """Parse a user's ``--alpha`` text (SPEC §3) into a validated tuning vector.

        Accepted: ``0.3`` (p = 2 simplex, or p = 1 box), ``0.2,0.8`` (all p values),
        ``name=value,...`` (simplex: unnamed axes are 0; box: unnamed axes keep the default).
        A simplex vector that does not sum to 1 is normalized with a notice.
        """
        raw = text.strip()
        if not raw:
            raise AlphaError(f"empty alpha: use {self.allowed_form()}")
        parts = [part.strip() for part in raw.split(",")]
        named = ["=" in part for part in parts]
        if any(named) and not all(named):
            raise AlphaError(f"alpha {raw!r} mixes named and unnamed values: use {self.allowed_form()}")
        if all(named):
            values = self._parse_named(raw, parts)
        else:
            numbers = [_parse_number(part, raw, self) for part in parts]
            if len(numbers) == 1 and self.scalar:
                a = numbers[0]
                if not 0.0 <= a <= 1.0:
                    raise AlphaError(f"alpha {raw} is outside [0, 1]: use {self.allowed_form()}")
                return ParsedAlpha(self.omega_of_scalar(a))
            if len(numbers) != self.p:
                raise AlphaError(
                    f"alpha {raw!r} has {len(numbers)} value(s), the model has {self.p} axes "
                    f"({', '.join(self.names)}): use {self.allowed_form()}"
                )
            values = numbers
        return self._finish(values, raw)

    def _parse_named(self, raw: str, parts: list[str]) -> list[float]:
        if self.domain == "simplex":
            values = [0.0] * self.p
        else:
            values = list(self.default)
        seen: set[str] = set()
        for part in parts:
            name, _, number = part.partition("=")
            name = name.strip()
            if name not in self.names:
                raise AlphaError(
                    f"unknown alpha axis {name!r}; axes are {', '.join(self.names)}: use {self.allowed_form()}"
                )
            if name in seen:
                raise AlphaError(f"alpha axis {name!r} given twice: use {self.allowed_form()}")
            seen.add(name)
            values[self.names.index(name)] = _parse_number(number.strip(), raw, self)
        return values

    def _finish(self, values: list[float], raw: str) -> ParsedAlpha:
        if any(not math.isfinite(v) for v in values):
            raise AlphaError(f"alpha {raw!r} is not a finite number: use {self.allowed_form()}")
        if self.domain == "box":
            return ParsedAlpha(self.validate(tuple(values)))
        if any(v < 0 for v in values):
            raise AlphaError(f"alpha {raw!r} has a negative weight: use {self.allowed_form()}")
        total = sum(values)
        if total <= 0:
            raise AlphaError(f"alpha {raw!r} has weights summing to 0: use {self.allowed_form()}")
        if abs(total - 1.0) <= _SUM_TOLERANCE:
            return ParsedAlpha(tuple(values))
        omega = tuple(v / total for v in values)
        shown = ",".join(f"{v:.3g}" for v in omega)
        return ParsedAlpha(omega, notice=f"alpha {raw!r} sums to {total:.3g}; normalized to {shown}")

    # ---- display -----------------------------------------------------------------------
    def label(self, omega: Omega) -> str:
        """Short file-name-safe label: ``a0.30`` for scalar spaces, ``a0.20-0.80`` otherwise."""
        if self.scalar:
            return f"a{self.scalar_of(omega):.2f}"
        return "a" + "-".join(f"{v:.2f}" for v in omega)

    def describe(self, omega: Omega) -> str:
        """Human label for headers: ``alpha=0.30`` or ``noise=0.20 blur=0.80``."""
        if self.scalar:
            return f"alpha={self.scalar_of(omega):.2f}"
        return " ".join(f"{n}={v:.2f}" for n, v in zip(self.names, omega, strict=True))


def _parse_number(text: str, raw: str, space: AlphaSpace) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AlphaError(f"alpha {raw!r}: {text!r} is not a number: use {space.allowed_form()}") from None
    if not math.isfinite(value):
        raise AlphaError(f"alpha {raw!r} is not a finite number: use {space.allowed_form()}")
    return value


# ---- lattices for sweeps ---------------------------------------------------------------------


def segment(start: float, stop: float, count: int) -> list[float]:
    """``count`` evenly spaced values from ``start`` to ``stop`` inclusive (count >= 1)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    if count == 1:
        return [float(start)]
    step = (stop - start) / (count - 1)
    return [round(start + i * step, 10) for i in range(count)]


def box_grid(per_axis: list[list[float]]) -> list[Omega]:
    """Cartesian product of per-axis values, first axis slowest (row-major grid order)."""
    return [tuple(point) for point in itertools.product(*per_axis)]


def simplex_lattice(p: int, n: int) -> list[Omega]:
    """All ω with entries k/n (k integer) summing to 1: C(n + p − 1, p − 1) points.

    Ordered lexicographically with the first axis descending, so corners e_1 … come first.
    """
    if p < 1 or n < 1:
        raise ValueError("simplex lattice needs p >= 1 and n >= 1")
    points: list[Omega] = []
    for counts in itertools.product(range(n, -1, -1), repeat=p):
        if sum(counts) == n:
            points.append(tuple(c / n for c in counts))
    return points


@dataclass(frozen=True)
class Sweep:
    """A parsed ``--sweep``: the tuning vectors in display order and the grid shape.

    ``shape`` is ``(rows, cols)`` for a 2-D box grid, otherwise ``(1, len(omegas))``.
    """

    omegas: tuple[Omega, ...]
    shape: tuple[int, int]
    kind: Literal["segment", "list", "grid", "simplex"]


def _parse_segment(text: str, raw: str, space: AlphaSpace) -> list[float]:
    bits = text.split(":")
    if len(bits) != 3:
        raise AlphaError(f"sweep {raw!r}: a range is start:stop:count (e.g. 0:1:7)")
    start = _parse_number(bits[0], raw, space)
    stop = _parse_number(bits[1], raw, space)
    try:
        count = int(bits[2])
    except ValueError:
        raise AlphaError(f"sweep {raw!r}: count {bits[2]!r} is not a whole number (e.g. 0:1:7)") from None
    if not 1 <= count <= 64:
        raise AlphaError(f"sweep {raw!r}: count must be between 1 and 64")
    return segment(start, stop, count)


def parse_sweep(text: str, space: AlphaSpace) -> Sweep:
    """Parse ``--sweep`` (SPEC §6) into validated tuning vectors.

    Forms: ``start:stop:count`` and ``v1,v2,...`` (scalar spaces), ``simplex:N`` (simplex
    spaces), ``axis=start:stop:count,axis=...`` (box spaces; unnamed axes keep the default),
    and ``A;B;C`` — a list of full ``--alpha`` values for any space.
    """
    raw = text.strip()
    if not raw:
        raise AlphaError("empty sweep: use start:stop:count, a list, simplex:N or axis=start:stop:count")
    if "auto" in re.split(r"[\s,;:=]+", raw.lower()):
        raise AlphaError(
            f"sweep {raw!r}: a sweep takes fixed alphas, not auto (--alpha auto picks one alpha per image); "
            "use e.g. 0:1:5"
        )
    if raw.startswith("simplex:"):
        if space.domain != "simplex":
            raise AlphaError(f"sweep {raw!r}: simplex lattices need a simplex model; this one is a box")
        try:
            n = int(raw.split(":", 1)[1])
        except ValueError:
            raise AlphaError(f"sweep {raw!r}: use simplex:N with N a whole number (e.g. simplex:4)") from None
        if not 1 <= n <= 12:
            raise AlphaError(f"sweep {raw!r}: N must be between 1 and 12")
        lattice = tuple(simplex_lattice(space.p, n))
        return Sweep(lattice, (1, len(lattice)), "simplex")
    if ";" in raw:
        omegas = tuple(space.parse(part).omega for part in raw.split(";") if part.strip())
        return Sweep(omegas, (1, len(omegas)), "list")
    if "=" in raw:
        if space.domain != "box":
            raise AlphaError(f"sweep {raw!r}: per-axis grids need a box model; use simplex:N or A;B;C")
        per_axis: list[list[float]] = [[v] for v in space.default]
        swept: list[int] = []
        for part in raw.split(","):
            name, _, values = part.partition("=")
            name = name.strip()
            if name not in space.names:
                raise AlphaError(f"sweep {raw!r}: unknown axis {name!r}; axes are {', '.join(space.names)}")
            index = space.names.index(name)
            if index in swept:
                raise AlphaError(f"sweep {raw!r}: axis {name!r} given twice")
            swept.append(index)
            if ":" in values:
                per_axis[index] = _parse_segment(values.strip(), raw, space)
            else:
                per_axis[index] = [_parse_number(values.strip(), raw, space)]
        omegas = tuple(space.validate(point) for point in box_grid(per_axis))
        sizes = [len(per_axis[i]) for i in swept if len(per_axis[i]) > 1]
        shape = (sizes[0], sizes[1]) if len(sizes) == 2 else (1, len(omegas))
        return Sweep(omegas, shape, "grid")
    if not space.scalar and space.p != 1:
        raise AlphaError(
            f"sweep {raw!r}: this model has {space.p} axes; use "
            + ("simplex:N or A;B;C" if space.domain == "simplex" else "axis=start:stop:count or A;B;C")
        )
    if ":" in raw:
        scalars = _parse_segment(raw, raw, space)
        kind: Literal["segment", "list"] = "segment"
    else:
        scalars = [_parse_number(part.strip(), raw, space) for part in raw.split(",")]
        kind = "list"
    omegas = tuple(space.parse(repr(a)).omega for a in scalars)
    return Sweep(omegas, (1, len(omegas)), kind)
