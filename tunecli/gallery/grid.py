"""The comparison sheet of a sweep (``grid.png``, SPEC §6), drawn with Pillow from numpy arrays.

A sheet shows, per input image, the input first and then one cell per alpha; under every
thumbnail sits a zoomed crop of the same window, chosen where the outputs differ most, so the
fine differences between alphas are visible at a glance. Cells are size-capped (a ×4 sweep of a
large photo still makes a sheet of a few megapixels) and labelled with the bundled DejaVu Sans
font, so the sheet looks the same on every machine. The alphas are also stored in the PNG's text
chunk (key :data:`ALPHAS_TEXT_KEY`) and the cell boxes under :data:`CELLS_TEXT_KEY`.

Pure functions of arrays: nothing here runs a model or reads image files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from tunecli.alpha import AlphaSpace, Omega, Sweep
from tunecli.imageio.atomic import atomic_output

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
ALPHAS_TEXT_KEY = "tunecli:alphas"
CELLS_TEXT_KEY = "tunecli:cells"

#: Largest thumbnail side (pixels) before the sheet-wide caps shrink it further.
MAX_CELL = 320
#: Smallest thumbnail side the caps may shrink to.
MIN_CELL = 48
#: Sheet caps: longest side and total pixel count.
MAX_SHEET_SIDE = 8192
MAX_SHEET_PIXELS = 24_000_000
#: A zoomed crop shows output pixels enlarged this many times.
CROP_ZOOM = 2
#: Strips longer than this (single image) wrap into a matrix of labelled cells.
WRAP_COLUMNS = 12

_BACKGROUND = (30, 30, 30)
_TEXT = (232, 232, 232)
_MUTED = (160, 160, 160)
_MARK = (255, 196, 0)
_GAP = 6


# ---- pixels -------------------------------------------------------------------------------------


def to_rgb8(pixels: np.ndarray) -> Image.Image:
    """An 8-bit RGB Pillow image of float ``pixels`` ``(H, W)`` or ``(H, W, C)`` in [0, 1].

    ``C`` is 1 (gray), 3 (RGB) or 4 (RGBA: the alpha channel is dropped — a sheet compares
    colour); values outside [0, 1] are clipped.
    """
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected (H, W) or (H, W, C) pixels with C in 1..4, got shape {array.shape}")
    if array.shape[2] in (2, 4):
        array = array[..., :-1]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    levels = np.clip(np.nan_to_num(array) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(levels, "RGB")


def fit_size(height: int, width: int, box: int) -> tuple[int, int]:
    """``(h, w)`` of an image of ``height × width`` scaled to fit a ``box × box`` square."""
    scale = min(box / height, box / width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resample(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize for display: Lanczos when shrinking, nearest when enlarging (pixels stay honest)."""
    if image.size == (width, height):
        return image
    shrinking = width < image.width or height < image.height
    return image.resize((width, height), Image.Resampling.LANCZOS if shrinking else Image.Resampling.NEAREST)


def thumbnail(pixels: np.ndarray, box: int = MAX_CELL) -> Image.Image:
    """An RGB thumbnail of float ``pixels`` fitting ``box × box`` (never larger than the image
    unless the image is smaller than the box, then enlarged with nearest neighbour)."""
    image = to_rgb8(pixels)
    height, width = fit_size(image.height, image.width, box)
    return resample(image, width, height)


# ---- where the outputs differ ---------------------------------------------------------------------


@dataclass(frozen=True)
class CropBox:
    """A window in pixel coordinates of the outputs: ``top``, ``left``, ``height``, ``width``."""

    top: int
    left: int
    height: int
    width: int

    def scaled(self, factor_y: float, factor_x: float) -> CropBox:
        """The same window in an image whose sides are ``factor`` times as long (at least 1 px)."""
        return CropBox(
            math.floor(self.top * factor_y),
            math.floor(self.left * factor_x),
            max(1, round(self.height * factor_y)),
            max(1, round(self.width * factor_x)),
        )

    def cut(self, pixels: np.ndarray) -> np.ndarray:
        """The window of ``pixels`` (clamped to the array)."""
        return pixels[self.top : self.top + self.height, self.left : self.left + self.width]


def crop_window(height: int, width: int, cell: int = MAX_CELL, zoom: int = CROP_ZOOM) -> tuple[int, int]:
    """Size of the zoomed window in output pixels for outputs of ``height × width``.

    The window has the image's aspect ratio (so its crop fills a thumbnail-shaped cell), is
    shown ``zoom`` times enlarged in a cell of side ``cell``, and covers at most half of each side.
    """
    thumb_w = fit_size(height, width, cell)[1]
    fraction = min(thumb_w / (zoom * width), 0.5)
    return max(1, round(height * fraction)), max(1, round(width * fraction))


class DifferenceMap:
    """Streaming per-pixel variance across the outputs of one image (one output in memory at a time).

    Feed every output with :meth:`add` (``(H, W)`` or ``(H, W, C)`` float in [0, 1], same shape),
    then :meth:`best_window` returns the window where the outputs disagree most. Values are kept
    relative to the first output so the float32 sums do not lose the small differences.
    """

    def __init__(self) -> None:
        self.count = 0
        self._first: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._squares: np.ndarray | None = None

    def add(self, output: np.ndarray) -> None:
        array = np.asarray(output, dtype=np.float32)
        luma = array.mean(axis=2) if array.ndim == 3 else array
        if self._first is None:
            self._first = luma.copy()
            self._sum = np.zeros_like(luma)
            self._squares = np.zeros_like(luma)
        elif luma.shape != self._first.shape:
            raise ValueError(f"outputs of one image must share a shape: {luma.shape} vs {self._first.shape}")
        assert self._sum is not None and self._squares is not None
        delta = luma - self._first
        self._sum += delta
        self._squares += delta * delta
        self.count += 1

    def variance(self) -> np.ndarray:
        """Per-pixel variance ``(H, W)`` float32 across the outputs added so far."""
        if self._first is None or self._sum is None or self._squares is None:
            raise ValueError("no outputs added")
        mean = self._sum / self.count
        return np.maximum(self._squares / self.count - mean * mean, 0.0)

    def best_window(self, height: int, width: int) -> CropBox:
        """The ``height × width`` window with the largest summed variance (the centre on a tie
        with no difference at all)."""
        return busiest_window(self.variance(), height, width)


def busiest_window(score: np.ndarray, height: int, width: int, max_cells: int = 4_000_000) -> CropBox:
    """The ``height × width`` window of the 2-D ``score`` map with the largest sum.

    Uses an integral image, so every window position is considered in O(H·W). Maps larger than
    ``max_cells`` are first summed over ``f × f`` blocks (window sums add up, so this is exact
    at block-aligned positions) to bound memory on ×4 outputs of large photos. When the whole
    map is zero the centred window is returned.
    """
    rows, cols = score.shape
    height, width = min(height, rows), min(width, cols)
    centre = CropBox((rows - height) // 2, (cols - width) // 2, height, width)
    if not np.any(score > 0):
        return centre
    factor = max(1, min(math.ceil(math.sqrt(rows * cols / max_cells)), height, width))
    if factor > 1:
        trimmed = score[: rows - rows % factor, : cols - cols % factor]
        score = trimmed.reshape(rows // factor, factor, cols // factor, factor).sum(axis=(1, 3), dtype=np.float64)
    window_h, window_w = max(1, height // factor), max(1, width // factor)
    integral = np.zeros((score.shape[0] + 1, score.shape[1] + 1), dtype=np.float64)
    integral[1:, 1:] = np.cumsum(np.cumsum(score, axis=0, dtype=np.float64), axis=1)
    sums = (
        integral[window_h:, window_w:]
        - integral[:-window_h, window_w:]
        - integral[window_h:, :-window_w]
        + integral[:-window_h, :-window_w]
    )
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    top, left = min(int(top) * factor, rows - height), min(int(left) * factor, cols - width)
    return CropBox(top, left, height, width)


# ---- prepared rows --------------------------------------------------------------------------------


@dataclass
class SheetRow:
    """One input image ready for a sheet: thumbnails and zoomed crops (RGB, at most ``MAX_CELL``).

    ``thumbs[0]`` and ``crops[0]`` are the input's, then one per alpha in sweep order;
    ``mark`` is the crop window as fractions ``(top, left, height, width)`` of the image, drawn
    on the input thumbnail.
    """

    name: str
    thumbs: list[Image.Image]
    crops: list[Image.Image] = field(default_factory=list)
    mark: tuple[float, float, float, float] | None = None


def shrink_row(row: SheetRow, cell: int) -> SheetRow:
    """``row`` with every panel fitted into ``cell × cell`` (to keep many rows small in memory)."""

    def fit(panel: Image.Image) -> Image.Image:
        if max(panel.size) <= cell:
            return panel
        height, width = fit_size(panel.height, panel.width, cell)
        return resample(panel, width, height)

    return SheetRow(row.name, [fit(p) for p in row.thumbs], [fit(p) for p in row.crops], row.mark)


def crop_panel(pixels: np.ndarray, box: CropBox) -> Image.Image:
    """The window ``box`` of float ``pixels`` as an RGB image at its own resolution."""
    return to_rgb8(box.cut(pixels))


def prepare_row(
    name: str,
    input_pixels: np.ndarray,
    outputs: Sequence[np.ndarray],
    *,
    cell: int = MAX_CELL,
    zoom: int = CROP_ZOOM,
) -> SheetRow:
    """A :class:`SheetRow` from arrays held in memory (float ``(H, W[, C])`` in [0, 1]).

    Outputs share one shape, possibly a multiple of the input's (upscaling). The crop window is
    chosen by :class:`DifferenceMap`; the input's crop covers the same scene area.
    """
    if not outputs:
        raise ValueError("a sheet row needs at least one output")
    differences = DifferenceMap()
    for output in outputs:
        differences.add(output)
    out_h, out_w = outputs[0].shape[:2]
    box = differences.best_window(*crop_window(out_h, out_w, cell, zoom))
    thumbs = [thumbnail(input_pixels, cell), *(thumbnail(o, cell) for o in outputs)]
    crops = [crop_panel(o, box) for o in outputs]
    return finish_row(name, input_pixels, thumbs[0], thumbs[1:], crops, box, (out_h, out_w))


def finish_row(
    name: str,
    input_pixels: np.ndarray,
    input_thumb: Image.Image,
    output_thumbs: list[Image.Image],
    output_crops: list[Image.Image],
    box: CropBox,
    output_size: tuple[int, int],
) -> SheetRow:
    """Assemble a :class:`SheetRow` once the crop ``box`` (in output pixels) is known: cuts the
    input's crop of the same scene area (the input may be smaller than the outputs)."""
    in_h, in_w = input_pixels.shape[:2]
    out_h, out_w = output_size
    input_box = box.scaled(in_h / out_h, in_w / out_w)
    mark = (box.top / out_h, box.left / out_w, box.height / out_h, box.width / out_w)
    return SheetRow(name, [input_thumb, *output_thumbs], [crop_panel(input_pixels, input_box), *output_crops], mark)


# ---- arrangement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrangement:
    """Where each alpha's cell goes on a single-image sheet.

    ``strip``: one row, a header per column. ``matrix``: ``positions[k] = (row, col)`` (``col``
    may be fractional, e.g. in a triangle) right of the input, each cell labelled.
    """

    kind: Literal["strip", "matrix"]
    positions: tuple[tuple[float, float], ...]
    caption: str = ""

    @property
    def rows(self) -> int:
        return 1 + max(math.floor(r) for r, _ in self.positions)

    @property
    def cols(self) -> int:
        return math.ceil(max(c for _, c in self.positions) + 1 - 1e-9)


def strip(count: int) -> Arrangement:
    """``count`` alphas side by side."""
    return Arrangement("strip", tuple((0.0, float(i)) for i in range(count)))


def arrange(sweep: Sweep, space: AlphaSpace, wrap: int = WRAP_COLUMNS) -> Arrangement:
    """The natural layout of a sweep: a strip for segments and lists, the 2-D grid of a box
    sweep over two axes, a triangle for a p = 3 simplex lattice, wrapped rows when long."""
    count = len(sweep.omegas)
    if sweep.kind == "grid" and sweep.shape[0] > 1:
        cols = sweep.shape[1]
        varying = [i for i in range(space.p) if len({o[i] for o in sweep.omegas}) > 1]
        caption = ""
        if len(varying) == 2:
            first, second = (space.names[i] for i in varying)
            caption = f"rows: {first} · columns: {second}"
        return Arrangement("matrix", tuple((float(k // cols), float(k % cols)) for k in range(count)), caption)
    if sweep.kind == "simplex" and space.p == 3:
        n = round(1 / min(v for o in sweep.omegas for v in o if v > 0))
        positions = []
        for omega in sweep.omegas:
            row = n - round(omega[0] * n)
            positions.append((float(row), (n - row) / 2 + round(omega[2] * n)))
        corners = ", ".join(f"{name}" for name in space.names)
        return Arrangement("matrix", tuple(positions), f"simplex lattice of {corners} (top, bottom left, bottom right)")
    if count <= wrap:
        return strip(count)
    return Arrangement("matrix", tuple((float(k // wrap), float(k % wrap)) for k in range(count)))


# ---- drawing --------------------------------------------------------------------------------------


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans at ``size`` pixels (never a system font)."""
    return ImageFont.truetype(str(FONT_PATH), size)


def _text_width(text: str, size: int) -> float:
    return font(size).getlength(text)


def fit_text(text: str, width: int, size: int, smallest: int = 9) -> tuple[str, int]:
    """``(text, font size)`` that fits ``width`` pixels: the font shrinks down to ``smallest``,
    then the text is cut with an ellipsis."""
    while size > smallest and _text_width(text, size) > width:
        size -= 1
    if _text_width(text, size) <= width:
        return text, size
    while len(text) > 1 and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…", size


@dataclass(frozen=True)
class AlphaCell:
    """What a sheet says about one alpha: ω, its short file label, and its display lines."""

    omega: Omega
    label: str
    lines: tuple[str, ...]

    @classmethod
    def of(cls, space: AlphaSpace, omega: Omega) -> AlphaCell:
        return cls(tuple(omega), space.label(omega), tuple(space.describe(omega).split(" ")))

    def to_json(self) -> dict[str, Any]:
        return {"omega": list(self.omega), "label": self.label, "text": " ".join(self.lines)}


@dataclass
class GridSheet:
    """A drawn sheet, its cell boxes (``x, y, w, h`` in sheet pixels) and the PNG text chunks."""

    image: Image.Image
    cells: list[dict[str, Any]]
    text: dict[str, str]
    cell: int

    def png_info(self) -> PngInfo:
        info = PngInfo()
        for key, value in self.text.items():
            info.add_itxt(key, value)
        return info

    def save(self, path: Path) -> None:
        """Write the sheet to ``path`` as PNG with its text chunks, atomically."""
        with atomic_output(Path(path), overwrite=True) as file:
            self.image.save(file, format="PNG", pnginfo=self.png_info())


@dataclass(frozen=True)
class _Geometry:
    cell: int
    font_size: int
    line: int
    title_h: int
    header_h: int
    label_h: int
    name_w: int
    col_w: int
    row_heights: tuple[int, ...]
    thumb_sizes: tuple[tuple[int, int], ...]
    width: int
    height: int


def _geometry(
    rows: Sequence[SheetRow],
    cells: Sequence[AlphaCell],
    arrangement: Arrangement,
    cell: int,
    title: str,
    input_lines: tuple[str, ...],
) -> _Geometry:
    font_size = max(11, min(20, round(cell * 0.055)))
    line = round(font_size * 1.3)
    multi = len(rows) > 1
    strip_mode = multi or arrangement.kind == "strip"
    thumb_sizes = tuple(fit_size(r.thumbs[0].height, r.thumbs[0].width, cell)[::-1] for r in rows)
    col_w = max(w for w, _ in thumb_sizes) + _GAP
    lines = max(len(input_lines), *(len(c.lines) for c in cells))
    header_h = lines * line + _GAP if strip_mode else 0
    label_h = 0 if strip_mode else lines * line + _GAP // 2
    title_h = (line + _GAP) * (1 + (1 if arrangement.caption and not multi else 0)) if title else 0
    name_w = min(col_w, max(round(_text_width(r.name, font_size)) for r in rows) + 2 * _GAP) if multi else 0
    has_crops = all(r.crops for r in rows)
    if strip_mode:
        row_heights = tuple(h * (2 if has_crops else 1) + _GAP * (2 if has_crops else 1) for _, h in thumb_sizes)
        width = _GAP + name_w + col_w * (1 + len(cells))
        height = _GAP + title_h + header_h + sum(row_heights)
    else:
        h = thumb_sizes[0][1]
        block = label_h + h * (2 if has_crops else 1) + _GAP * (2 if has_crops else 1)
        row_heights = (block,) * arrangement.rows
        width = _GAP + col_w * (1 + arrangement.cols) + _GAP
        height = _GAP + title_h + block * arrangement.rows
    return _Geometry(
        cell, font_size, line, title_h, header_h, label_h, name_w, col_w, row_heights, thumb_sizes, width, height
    )


def build_grid(
    rows: Sequence[SheetRow],
    cells: Sequence[AlphaCell],
    *,
    arrangement: Arrangement | None = None,
    title: str = "",
    max_cell: int = MAX_CELL,
    max_side: int = MAX_SHEET_SIDE,
    max_pixels: int = MAX_SHEET_PIXELS,
    input_lines: Sequence[str] = ("input",),
) -> GridSheet:
    """Draw the comparison sheet.

    ``rows``: one :class:`SheetRow` per input image (each with ``1 + len(cells)`` thumbnails
    and, optionally, as many crops). One row: ``arrangement`` places the alpha cells (default a
    strip: input first, then one column per alpha, a header over each column, the crop row
    beneath). Several rows: rows are images, columns are alphas (a strip per image, named on
    the left). Thumbnails are fitted into squares of ``max_cell`` pixels, shrunk further until
    the sheet is within ``max_side`` per side and ``max_pixels`` in all (down to ``MIN_CELL``).
    ``input_lines``: the input's header (e.g. its PSNR against a reference below "input").
    """
    if not rows or not cells:
        raise ValueError("a sheet needs at least one image and one alpha")
    for row in rows:
        if len(row.thumbs) != 1 + len(cells) or (row.crops and len(row.crops) != 1 + len(cells)):
            raise ValueError(f"row {row.name!r} has {len(row.thumbs)} thumbnails for {len(cells)} alphas")
    if arrangement is None or len(rows) > 1:
        arrangement = strip(len(cells))
    if len(arrangement.positions) != len(cells):
        raise ValueError("the arrangement does not place every alpha")
    cell = max_cell
    input_cell = AlphaCell((), "input", tuple(input_lines))
    geometry = _geometry(rows, cells, arrangement, cell, title, input_cell.lines)
    for _ in range(8):
        over = max(
            geometry.width / max_side,
            geometry.height / max_side,
            math.sqrt(geometry.width * geometry.height / max_pixels),
        )
        if over <= 1 or cell <= MIN_CELL:
            break
        cell = max(MIN_CELL, math.floor(cell / over) - 1)
        geometry = _geometry(rows, cells, arrangement, cell, title, input_cell.lines)
    return _draw(rows, cells, arrangement, geometry, title, input_cell.lines)


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: Sequence[str],
    x: int,
    y: int,
    width: int,
    g: _Geometry,
    fill: tuple[int, int, int] = _TEXT,
) -> None:
    for i, line in enumerate(lines):
        text, size = fit_text(line, width - 4, g.font_size)
        offset = (width - _text_width(text, size)) / 2
        draw.text((x + offset, y + i * g.line), text, font=font(size), fill=fill)


def _paste(sheet: Image.Image, panel: Image.Image, x: int, y: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    sheet.paste(resample(panel, *size), (x, y))
    return x, y, size[0], size[1]


def _draw(
    rows: Sequence[SheetRow],
    cells: Sequence[AlphaCell],
    arrangement: Arrangement,
    g: _Geometry,
    title: str,
    input_lines: tuple[str, ...],
) -> GridSheet:
    sheet = Image.new("RGB", (g.width, g.height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    boxes: list[dict[str, Any]] = []
    y = _GAP
    if title:
        text, size = fit_text(title, g.width - 2 * _GAP, g.font_size)
        draw.text((_GAP, y), text, font=font(size), fill=_TEXT)
        if arrangement.caption and len(rows) == 1:
            text, size = fit_text(arrangement.caption, g.width - 2 * _GAP, g.font_size)
            draw.text((_GAP, y + g.line + _GAP), text, font=font(size), fill=_MUTED)
        y += g.title_h
    has_crops = all(r.crops for r in rows)

    def place(row_index: int, panel_index: int, x: int, top: int) -> None:
        row = rows[row_index]
        size = g.thumb_sizes[row_index]
        inner = x + (g.col_w - _GAP - size[0]) // 2
        kind = "input" if panel_index == 0 else "output"
        alpha = None if panel_index == 0 else panel_index - 1
        box = _paste(sheet, row.thumbs[panel_index], inner, top, size)
        boxes.append({"kind": kind, "image": row_index, "alpha": alpha, "box": list(box)})
        if panel_index == 0 and row.mark is not None:
            t, left, h, w = row.mark
            draw.rectangle(
                [
                    inner + left * size[0],
                    top + t * size[1],
                    inner + (left + w) * size[0] - 1,
                    top + (t + h) * size[1] - 1,
                ],
                outline=_MARK,
                width=2,
            )
        if has_crops:
            box = _paste(sheet, row.crops[panel_index], inner, top + size[1] + _GAP, size)
            boxes.append({"kind": "crop", "image": row_index, "alpha": alpha, "box": list(box)})

    if len(rows) > 1 or arrangement.kind == "strip":
        x0 = _GAP + g.name_w
        headers = [input_lines, *(c.lines for c in cells)]
        for col, lines in enumerate(headers):
            _draw_lines(draw, lines, x0 + col * g.col_w, y, g.col_w - _GAP, g, _MUTED if col == 0 else _TEXT)
        y += g.header_h
        for r, row in enumerate(rows):
            if g.name_w:
                _draw_lines(draw, [row.name], _GAP, y + g.thumb_sizes[r][1] // 2 - g.line // 2, g.name_w - _GAP, g)
            for col in range(1 + len(cells)):
                place(r, col, x0 + col * g.col_w, y)
            y += g.row_heights[r]
    else:
        _draw_lines(draw, input_lines, _GAP, y, g.col_w - _GAP, g, _MUTED)
        place(0, 0, _GAP, y + g.label_h)
        x0 = _GAP + g.col_w + _GAP
        block = g.row_heights[0]
        for k, (row_pos, col_pos) in enumerate(arrangement.positions):
            x = x0 + round(col_pos * g.col_w)
            top = y + round(row_pos * block)
            _draw_lines(draw, cells[k].lines, x, top, g.col_w - _GAP, g)
            place(0, k + 1, x, top + g.label_h)
    text = {
        ALPHAS_TEXT_KEY: json.dumps([c.to_json() for c in cells]),
        CELLS_TEXT_KEY: json.dumps(boxes),
        "Software": "tunecli",
    }
    if title:
        text["Title"] = title
    return GridSheet(sheet, boxes, text, g.cell)
