"""The alpha in ``--alpha`` syntax and the equivalent command line: both parse back to what the
page ran."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tune_support import BOX, SCALAR, SIMPLEX4

from tunecli.alpha import AlphaSpace
from tunecli.tune.command import CommandLine, alpha_text, number_text


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0"), (1.0, "1"), (0.37, "0.37"), (0.5, "0.5"), (0.05, "0.05"), (1 / 3, "0.333333")]
)
def test_number_text(value: float, text: str) -> None:
    assert number_text(value) == text


@pytest.mark.parametrize(
    ("space", "omega", "text"),
    [
        (SCALAR, (0.63, 0.37), "0.37"),
        (SCALAR, (1.0, 0.0), "0"),
        (BOX, (0.2, 0.5), "noise=0.2,blur=0.5"),
        (BOX, (0.0, 1.0), "noise=0,blur=1"),
        (SIMPLEX4, (0.5, 0.0, 0.5, 0.0), "starry=0.5,wave=0.5"),
        (SIMPLEX4, (0.25, 0.25, 0.25, 0.25), "starry=0.25,scream=0.25,wave=0.25,kandinsky=0.25"),
    ],
)
def test_alpha_text(space: AlphaSpace, omega: tuple[float, ...], text: str) -> None:
    assert alpha_text(space, omega) == text
    parsed = space.parse(text)
    assert parsed.notice is None
    assert parsed.omega == pytest.approx(omega, abs=1e-12)


hundredths = st.lists(st.integers(0, 100), min_size=4, max_size=4).filter(lambda w: sum(w) > 0)


@given(hundredths)
def test_slider_positions_round_trip(weights: list[int]) -> None:
    """What the page sends (values in hundredths) comes back as the same text, with no
    normalization notice when a simplex sums to 1."""
    box = AlphaSpace(4, "box", SIMPLEX4.axes, (0.5,) * 4)
    omega = tuple(w / 100 for w in weights)
    assert box.parse(alpha_text(box, omega)).omega == pytest.approx(omega, abs=1e-12)
    total = sum(weights)
    scaled = [w * 100 // total for w in weights]
    scaled[scaled.index(max(scaled))] += 100 - sum(scaled)
    simplex_omega = tuple(w / 100 for w in scaled)
    parsed = SIMPLEX4.parse(alpha_text(SIMPLEX4, simplex_omega))
    assert parsed.notice is None
    assert parsed.omega == pytest.approx(simplex_omega, abs=1e-12)


def test_command_line_is_the_task_command() -> None:
    plain = CommandLine("denoise", Path("photo.jpg"))
    assert plain.at("0.37") == "tunecli denoise --alpha 0.37 photo.jpg"
    full = CommandLine("upscale", Path("my photos/a.png"), "upscale-x2", 2, Path("out dir"), True, "cuda")
    words = shlex.split(full.at("0.5"))
    assert words == [
        "tunecli", "upscale", "--alpha", "0.5", "--model", "upscale-x2", "--scale", "2",
        "--device", "cuda", "-o", "out dir", "--overwrite", "my photos/a.png",
    ]  # fmt: skip
    bf16 = CommandLine("denoise", Path("photo.jpg"), device="cpu", precision="bf16")
    assert bf16.at("0.37") == "tunecli denoise --alpha 0.37 --device cpu --precision bf16 photo.jpg"
