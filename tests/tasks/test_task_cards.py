"""What a model card shows that the checkpoint did not record: the paintings of a style model's
axes, what the shipped upscalers' alpha 1 gives as measured, and the measured results of a
shipped file — each tied to a file's SHA-256, so no other checkpoint is described by them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.tasks import MeasuredResults, get_task
from tunecli.tasks import style as style_task
from tunecli.tasks import upscale as upscale_task


def test_a_style_trained_on_a_known_painting_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known, other = tmp_path / "night.jpg", tmp_path / "mine.jpg"
    known.write_bytes(b"a painting")
    other.write_bytes(b"my own painting")
    digest = hashlib.sha256(b"a painting").hexdigest()
    monkeypatch.setattr(style_task, "KNOWN_PAINTINGS", {digest: "The Night, A. Painter, 1900"})
    space = style_task.alpha_space(["night", "mine"], [str(known), str(other)])
    assert [a.meaning for a in space.axes] == ["The Night, A. Painter, 1900", "the style of mine (mine.jpg)"]
    assert (space.low, space.high) == ("night: The Night, A. Painter, 1900", "mine: the style of mine (mine.jpg)")


def test_an_older_style_card_gets_its_paintings_from_their_recorded_hashes() -> None:
    starry, mine = (
        "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098",
        hashlib.sha256(b"mine").hexdigest(),
    )
    old = AlphaSpace(
        3,
        "simplex",
        tuple(AlphaAxis(n, f"the style of {n}") for n in ("starry", "mine", "wave")),
        (1 / 3, 1 / 3, 1 / 3),
    )
    meta = {"training": {"styles": [{"name": "starry", "sha256": starry}, {"name": "mine", "sha256": mine}]}}
    shown = get_task("style").card_alpha_space(old, meta, lambda: "not asked")
    assert [a.meaning for a in shown.axes] == [
        "The Starry Night, Vincent van Gogh, 1889",
        "the style of mine",  # a painting tunecli does not know
        "the style of wave",  # none recorded
    ]
    assert get_task("style").card_alpha_space(old, {}, lambda: "") == old


def test_only_the_shipped_upscalers_get_the_measured_alpha_1_text() -> None:
    space = upscale_task.alpha_space()
    task = get_task("upscale")
    assert task.card_alpha_space(space, {}, lambda: "0" * 64) == space
    shown = task.card_alpha_space(space, {}, lambda: upscale_task._SHIPPED_X4)
    assert shown.high.startswith("perceptual: crisper edges") and "Real-ESRGAN" in shown.high and "NIQE" in shown.high
    assert shown.axes[1].meaning == shown.high.removeprefix("perceptual: ") and shown.low == space.low


def test_measured_results_are_looked_up_by_the_files_hash_and_only_when_there_are_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = get_task("denoise")
    entry = MeasuredResults("ab" * 32, (("CBSD68", "31.38 dB"),), ("python bench/x.py",), ("r.md",))
    monkeypatch.setattr(task, "measured", (entry,))
    assert task.measured_results(lambda: "ab" * 32) is entry
    assert task.measured_results(lambda: "cd" * 32) is None
    monkeypatch.setattr(task, "measured", ())

    def never() -> str:
        raise AssertionError("hashed a file for a task without measured results")

    assert task.measured_results(never) is None
