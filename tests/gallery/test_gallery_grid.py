"""grid.png: cell geometry and content, size caps, layouts, crop choice, PNG text chunks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tunecli.alpha import AlphaAxis, AlphaSpace, parse_sweep
from tunecli.gallery.grid import (
    ALPHAS_TEXT_KEY,
    CELLS_TEXT_KEY,
    MAX_CELL,
    AlphaCell,
    DifferenceMap,
    arrange,
    build_grid,
    busiest_window,
    crop_window,
    fit_size,
    fit_text,
    font,
    prepare_row,
)

SCALAR = AlphaSpace(2, "simplex", (AlphaAxis("gentle"), AlphaAxis("strong")), (0.5, 0.5), low="gentle", high="strong")
BOX = AlphaSpace(2, "box", (AlphaAxis("noise"), AlphaAxis("blur")), (0.5, 0.5))
STYLES = AlphaSpace(3, "simplex", (AlphaAxis("starry"), AlphaAxis("wave"), AlphaAxis("scream")), (1 / 3, 1 / 3, 1 / 3))


def flat(height: int, width: int, value: tuple[float, float, float]) -> np.ndarray:
    return np.broadcast_to(np.array(value, dtype=np.float32), (height, width, 3)).copy()


def colours(count: int) -> list[tuple[float, float, float]]:
    """Distinct, 8-bit exact colours (multiples of 1/255)."""
    return [((40 + 30 * k) / 255, (200 - 20 * k) / 255, (17 * k % 256) / 255) for k in range(count)]


def pixel(sheet: Image.Image, box: list[int]) -> tuple[int, ...]:
    x, y, w, h = box
    return sheet.getpixel((x + w // 2, y + h // 2))


def test_strip_has_one_column_per_alpha_with_the_right_content() -> None:
    sweep = parse_sweep("0:1:5", SCALAR)
    values = colours(6)
    outputs = [flat(60, 90, c) for c in values[1:]]
    row = prepare_row("cat.png", flat(60, 90, values[0]), outputs)
    cells = [AlphaCell.of(SCALAR, o) for o in sweep.omegas]
    sheet = build_grid([row], cells, arrangement=arrange(sweep, SCALAR))

    thumbs = [c for c in sheet.cells if c["kind"] != "crop"]
    crops = [c for c in sheet.cells if c["kind"] == "crop"]
    assert len(thumbs) == len(crops) == 1 + 5
    assert [c["alpha"] for c in thumbs] == [None, 0, 1, 2, 3, 4]
    expected_size = fit_size(60, 90, MAX_CELL)[::-1]
    for index, cell in enumerate(thumbs):
        assert tuple(cell["box"][2:]) == expected_size
        assert pixel(sheet.image, cell["box"]) == tuple(round(v * 255) for v in values[index])
    # one row of thumbnails, the crop row right beneath, columns evenly spaced
    assert len({c["box"][1] for c in thumbs}) == 1
    assert len({c["box"][1] for c in crops}) == 1
    assert crops[0]["box"][1] > thumbs[0]["box"][1] + expected_size[1]
    steps = {b["box"][0] - a["box"][0] for a, b in itertools.pairwise(thumbs)}
    assert len(steps) == 1
    for crop, thumb in zip(crops, thumbs, strict=True):
        assert crop["box"][0] == thumb["box"][0]
        assert pixel(sheet.image, crop["box"]) == pixel(sheet.image, thumb["box"])


def test_png_text_chunk_records_alphas_and_cells(tmp_path: Path) -> None:
    sweep = parse_sweep("0,0.25,0.9", SCALAR)
    outputs = [flat(32, 32, c) for c in colours(3)]
    cells = [AlphaCell.of(SCALAR, o) for o in sweep.omegas]
    sheet = build_grid([prepare_row("x.png", outputs[0], outputs)], cells, title="denoise · alpha 0 = gentle")
    path = tmp_path / "grid.png"
    sheet.save(path)
    with Image.open(path) as reopened:
        text = dict(reopened.text)
        assert reopened.size == sheet.image.size
    alphas = json.loads(text[ALPHAS_TEXT_KEY])
    assert [a["label"] for a in alphas] == ["a0.00", "a0.25", "a0.90"]
    assert [a["text"] for a in alphas] == ["alpha=0.00", "alpha=0.25", "alpha=0.90"]
    assert alphas[2]["omega"] == pytest.approx([0.1, 0.9])
    assert json.loads(text[CELLS_TEXT_KEY]) == sheet.cells
    assert text["Title"] == "denoise · alpha 0 = gentle"
    assert not list(tmp_path.glob(".*.tmp"))


def test_upscaled_outputs_do_not_grow_the_sheet() -> None:
    """A ×4 sweep of a larger image makes the same sheet: thumbnails are capped, not the image."""
    sweep = parse_sweep("0:1:3", SCALAR)
    cells = [AlphaCell.of(SCALAR, o) for o in sweep.omegas]
    rng = np.random.default_rng(0)
    sizes = []
    for side in (40, 160):
        small = rng.random((side * 3 // 4, side, 3), dtype=np.float32)
        big = [np.repeat(np.repeat(small, 4, 0), 4, 1) * f for f in (0.5, 0.8, 1.0)]
        sheet = build_grid([prepare_row("x", small, big)], cells)
        sizes.append(sheet.image.size)
        assert all(max(c["box"][2:]) <= MAX_CELL for c in sheet.cells)
    assert sizes[0] == sizes[1]


def test_sheet_caps_shrink_cells_for_long_sweeps() -> None:
    count = 40
    outputs = [flat(100, 100, c) for c in colours(count)]
    omegas = [(1 - a, a) for a in np.linspace(0, 1, count)]
    cells = [AlphaCell.of(SCALAR, o) for o in omegas]
    rows = [prepare_row(f"image {i}.png", outputs[0], outputs) for i in range(3)]
    sheet = build_grid(rows, cells, max_side=4000, max_pixels=6_000_000)
    width, height = sheet.image.size
    assert width <= 4000 and height <= 4000 and width * height <= 6_000_000
    assert sheet.cell < MAX_CELL
    assert len([c for c in sheet.cells if c["kind"] == "output"]) == 3 * count
    assert {c["image"] for c in sheet.cells} == {0, 1, 2}


def test_several_images_make_rows_of_images_and_columns_of_alphas() -> None:
    sweep = parse_sweep("0:1:4", SCALAR)
    cells = [AlphaCell.of(SCALAR, o) for o in sweep.omegas]
    values = colours(4)
    wide = prepare_row("wide.png", flat(30, 90, values[0]), [flat(30, 90, c) for c in values])
    tall = prepare_row("tall.png", flat(90, 30, values[0]), [flat(90, 30, c) for c in values])
    sheet = build_grid([wide, tall], cells)
    thumbs = [c for c in sheet.cells if c["kind"] != "crop"]
    assert len(thumbs) == 2 * 5
    first, second = ([c for c in thumbs if c["image"] == i] for i in (0, 1))
    assert all(c["box"][1] < second[0]["box"][1] for c in first)
    # the same alpha lies in the same column for both images
    for a, b in zip(first, second, strict=True):
        assert a["alpha"] == b["alpha"]
        assert a["box"][0] + a["box"][2] // 2 == pytest.approx(b["box"][0] + b["box"][2] // 2, abs=1)
    assert tuple(second[1]["box"][2:]) == fit_size(90, 30, sheet.cell)[::-1]


def test_box_sweep_is_laid_out_as_its_two_dimensional_grid() -> None:
    sweep = parse_sweep("noise=0:1:3,blur=0:1:4", BOX)
    arrangement = arrange(sweep, BOX)
    assert arrangement.kind == "matrix"
    assert (arrangement.rows, arrangement.cols) == (3, 4)
    assert arrangement.positions[5] == (1.0, 1.0)
    assert arrangement.caption == "rows: noise · columns: blur"
    outputs = [flat(24, 24, (k / 12, 0.5, 0.5)) for k in range(12)]
    cells = [AlphaCell.of(BOX, o) for o in sweep.omegas]
    assert cells[5].lines == ("noise=0.50", "blur=0.33")
    sheet = build_grid([prepare_row("x", outputs[0], outputs)], cells, arrangement=arrangement)
    boxes = {c["alpha"]: c["box"] for c in sheet.cells if c["kind"] == "output"}
    assert boxes[0][1] == boxes[3][1] < boxes[4][1] == boxes[7][1] < boxes[8][1]
    assert boxes[0][0] == boxes[4][0] == boxes[8][0] < boxes[1][0]


def test_simplex_lattice_of_three_styles_is_a_triangle() -> None:
    sweep = parse_sweep("simplex:3", STYLES)
    arrangement = arrange(sweep, STYLES)
    rows: dict[float, list[float]] = {}
    for r, c in arrangement.positions:
        rows.setdefault(r, []).append(c)
    assert [len(rows[r]) for r in sorted(rows)] == [1, 2, 3, 4]
    corners = {omega: pos for omega, pos in zip(sweep.omegas, arrangement.positions, strict=True)}
    assert corners[(1.0, 0.0, 0.0)] == (0.0, 1.5)
    assert corners[(0.0, 1.0, 0.0)] == (3.0, 0.0)
    assert corners[(0.0, 0.0, 1.0)] == (3.0, 3.0)


def test_long_strips_wrap_into_labelled_rows() -> None:
    sweep = parse_sweep("0:1:20", SCALAR)
    arrangement = arrange(sweep, SCALAR, wrap=8)
    assert arrangement.kind == "matrix" and (arrangement.rows, arrangement.cols) == (3, 8)
    assert arrange(parse_sweep("0:1:8", SCALAR), SCALAR, wrap=8).kind == "strip"


def test_crop_lands_where_the_outputs_differ() -> None:
    base = flat(80, 120, (0.2, 0.2, 0.2))
    changed = base.copy()
    changed[50:60, 90:100] = 0.8
    row = prepare_row("x", base, [base, changed, base])
    top, left, height, width = (round(f * side) for f, side in zip(row.mark, (80, 120, 80, 120), strict=True))
    assert top <= 50 and top + height >= 60
    assert left <= 90 and left + width >= 100
    # the changed output's crop shows the bright patch; the others do not
    assert np.asarray(row.crops[2]).max() == 204
    assert np.asarray(row.crops[1]).max() == 51


def test_input_crop_covers_the_same_scene_area_for_upscaled_outputs() -> None:
    rng = np.random.default_rng(1)
    small = rng.random((40, 60, 3), dtype=np.float32)
    big = np.repeat(np.repeat(small, 2, 0), 2, 1)
    brighter = big.copy()
    brighter[10:30, 70:90] += 0.5
    row = prepare_row("x", small, [big, np.clip(brighter, 0, 1)])
    output_crop = np.asarray(row.crops[1])
    input_crop = np.asarray(row.crops[0])
    assert input_crop.shape[0] * 2 == output_crop.shape[0] and input_crop.shape[1] * 2 == output_crop.shape[1]
    np.testing.assert_array_equal(np.repeat(np.repeat(input_crop, 2, 0), 2, 1), output_crop)


def test_difference_map_equals_the_variance_across_outputs() -> None:
    rng = np.random.default_rng(2)
    stack = rng.random((5, 20, 30, 3), dtype=np.float32)
    differences = DifferenceMap()
    for output in stack:
        differences.add(output)
    np.testing.assert_allclose(differences.variance(), stack.mean(axis=3).var(axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="share a shape"):
        differences.add(stack[0, :10])


def test_busiest_window_defaults_to_the_centre_when_nothing_differs() -> None:
    box = busiest_window(np.zeros((100, 60)), 20, 10)
    assert (box.top, box.left, box.height, box.width) == (40, 25, 20, 10)
    score = np.zeros((100, 60))
    score[0:5, 55:60] = 1
    box = busiest_window(score, 20, 10)
    assert (box.top, box.left) == (0, 50)


def test_busiest_window_on_large_maps_sums_blocks_first() -> None:
    score = np.zeros((400, 600), dtype=np.float32)
    score[301:341, 455:515] = 1.0
    exact = busiest_window(score, 40, 60)
    assert (exact.top, exact.left) == (301, 455)
    coarse = busiest_window(score, 40, 60, max_cells=10_000)  # 5×5 blocks
    assert (coarse.height, coarse.width) == (40, 60)
    assert abs(coarse.top - 301) < 5 and abs(coarse.left - 455) < 5


def test_crop_window_keeps_the_aspect_and_at_most_half_the_image() -> None:
    assert crop_window(300, 600, cell=320, zoom=2) == (80, 160)
    assert crop_window(20, 40, cell=320, zoom=2) == (10, 20)


def test_long_labels_are_fitted_with_the_bundled_font() -> None:
    assert Path(font(12).path).name == "DejaVuSans.ttf"
    assert Path(font(12).path).is_file()
    text, size = fit_text("alpha=0.50", 200, 16)
    assert (text, size) == ("alpha=0.50", 16)
    text, size = fit_text("a very long image name that cannot fit.png", 60, 16)
    assert text.endswith("…") and size == 9
    assert font(size).getlength(text) <= 60


def test_mismatched_rows_are_refused() -> None:
    outputs = [flat(10, 10, c) for c in colours(2)]
    row = prepare_row("x", outputs[0], outputs)
    cells = [AlphaCell.of(SCALAR, (1.0, 0.0))]
    with pytest.raises(ValueError, match="has 3 thumbnails for 1 alphas"):
        build_grid([row], cells)
