"""The offline comparison page of a sweep (``index.html``, SPEC §6).

One self-contained HTML file: the CSS and script (``static/``, written for this project) are
inlined, thumbnails are embedded as data URIs, and the full-size images are the files next to
the page, linked by relative URL. No network is ever touched, and a Content-Security-Policy
allows only the page's own inline script and style (by hash), so even a crafted file name
could not run code. Every name and label is HTML-escaped, every link URL-quoted, and the data
handed to the script is JSON with ``<``, ``>`` and ``&`` escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from tunecli.imageio.atomic import atomic_output

#: Longest side of the thumbnails embedded in the page.
THUMB_SIDE = 240


@dataclass(frozen=True)
class GalleryView:
    """One picture of an entry: the input or one alpha's output.

    ``image`` is a browser-viewable file (PNG, JPEG, WebP, ...) shown full size and in the
    comparison; ``thumb`` an optional RGB thumbnail embedded in the page.
    """

    label: str
    image: Path
    thumb: Image.Image | None = None


@dataclass(frozen=True)
class GalleryEntry:
    """One input image with its views (``views[0]`` is the input, then one per alpha)."""

    name: str
    views: tuple[GalleryView, ...]
    page: Path | None = None


def file_url(target: Path, page_dir: Path) -> str:
    """A URL for ``target`` usable from a page in ``page_dir``: a percent-quoted relative path,
    or a ``file:`` URI when no relative path exists (another drive). Never carries a scheme
    taken from the file name (``:`` is quoted)."""
    try:
        relative = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    except ValueError:
        return Path(target).resolve().as_uri()
    return quote(Path(relative).as_posix(), safe="/")


def data_uri(image: Image.Image, side: int = THUMB_SIDE) -> str:
    """A ``data:image/jpeg`` URI of ``image`` shrunk to fit ``side × side``."""
    thumb = image.convert("RGB")
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` become ``\\u`` escapes,
    so no string in it can close the element."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files("tunecli.gallery").joinpath("static", name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def render_html(
    entries: Sequence[GalleryEntry],
    page_dir: Path,
    *,
    title: str,
    notes: Sequence[str] = (),
    grid: Path | None = None,
) -> str:
    """The page as text, with links relative to ``page_dir`` (where the page will live)."""
    if not entries:
        raise ValueError("a gallery needs at least one entry")
    css = _asset("gallery.css")
    script = _asset("gallery.js")
    payload = {
        "entries": [
            {
                "name": entry.name,
                "views": [{"label": view.label, "src": file_url(view.image, page_dir)} for view in entry.views],
            }
            for entry in entries
        ]
    }
    out = [*_head(title, css, script), *_header(title, notes, grid, page_dir), "<main>"]
    out += _compare_section(pick_entry=len(entries) > 1)
    for index, entry in enumerate(entries):
        out += _entry_section(index, entry, page_dir)
    out += [
        "</main>",
        '<div id="lightbox" hidden><img id="lightbox-img" alt=""><p id="lightbox-caption"></p></div>',
        f'<script type="application/json" id="gallery-data">{script_json(payload)}</script>',
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def _head(title: str, css: str, script: str) -> list[str]:
    """The lines from the doctype to ``<body>``: the title, the inlined ``css`` and a
    Content-Security-Policy that allows only this ``css`` and ``script`` (by hash)."""
    csp = (
        f"default-src 'none'; img-src 'self' data: file:; style-src {_csp_hash(css)}; "
        f"script-src {_csp_hash(script)}; base-uri 'none'; form-action 'none'"
    )
    return [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="tunecli">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
    ]


def _header(title: str, notes: Sequence[str], grid: Path | None, page_dir: Path) -> list[str]:
    """The page's ``<header>``: the title, one paragraph per note and a link to the sheet."""
    out = ["<header>", f"<h1>{html.escape(title)}</h1>"]
    out += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    if grid is not None:
        link = html.escape(file_url(grid, page_dir))
        out.append(f'<p class="note"><a href="{link}">comparison sheet (grid.png)</a></p>')
    out.append("</header>")
    return out


def _compare_section(*, pick_entry: bool) -> list[str]:
    """The split-view comparison of two views (hidden until the script fills it in), with a
    choice of the image when ``pick_entry`` (several entries)."""
    out = ['<section id="compare" hidden>', '<div class="controls">']
    if pick_entry:
        out.append('<label>image <select id="pick-entry"></select></label>')
    return [
        *out,
        '<label>left <select id="pick-a"></select></label>',
        '<label>right <select id="pick-b"></select></label>',
        '<label>split <input type="range" id="split" min="0" max="100" step="0.1" value="50"></label>',
        "</div>",
        '<div class="stage" id="stage">',
        '<img id="img-a" alt="left image">',
        '<img id="img-b" alt="right image">',
        '<div class="divider" id="divider"></div>',
        '<span class="tag left" id="tag-a"></span><span class="tag right" id="tag-b"></span>',
        "</div>",
        '<p class="hint">Drag across the image or move the slider to compare. '
        "\u2190 \u2192 step the right image through the alphas, Shift+\u2190 \u2192 the left one. "
        "Click a thumbnail for full size (Esc closes).</p>",
        "</section>",
    ]


def _entry_section(index: int, entry: GalleryEntry, page_dir: Path) -> list[str]:
    """Entry ``index``: its heading (a link to its own page, if it has one) and a thumbnail per
    view, each a link to the view at full size."""
    heading = html.escape(entry.name)
    if entry.page is not None:
        heading = f'<a href="{html.escape(file_url(entry.page, page_dir))}">{heading}</a>'
    out = ['<section class="entry">', f"<h2>{heading}</h2>", '<div class="thumbs">']
    for number, view in enumerate(entry.views):
        full = html.escape(file_url(view.image, page_dir))
        thumb = data_uri(view.thumb) if view.thumb is not None else full
        label = html.escape(view.label)
        out.append(
            f'<figure data-entry="{index}" data-view="{number}">'
            f'<a class="full" href="{full}"><img src="{thumb}" alt="{label}" loading="lazy"></a>'
            f"<figcaption>{label}</figcaption></figure>"
        )
    return [*out, "</div>", "</section>"]


def write_html(
    path: Path,
    entries: Sequence[GalleryEntry],
    *,
    title: str,
    notes: Sequence[str] = (),
    grid: Path | None = None,
) -> None:
    """Write the gallery page to ``path`` atomically (see :func:`render_html`)."""
    path = Path(path)
    text = render_html(entries, path.parent, title=title, notes=notes, grid=grid)
    with atomic_output(path, overwrite=True) as file:
        file.write(text.encode("utf-8"))
