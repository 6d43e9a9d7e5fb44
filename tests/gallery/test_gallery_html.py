"""index.html: self-contained, escaped against hostile file names, URL-quoted links, CSP hashes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tunecli.gallery.grid import thumbnail
from tunecli.gallery.html import GalleryEntry, GalleryView, file_url, render_html, script_json, write_html

HOSTILE = '"><script>alert(1)</script>.png'


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def hostile_entry(folder: Path) -> GalleryEntry:
    pixels = np.full((8, 8, 3), 0.5, dtype=np.float32)
    views = (
        GalleryView(HOSTILE, folder / HOSTILE, thumbnail(pixels)),
        GalleryView(f"alpha=0.50 {HOSTILE}", folder / f"x_{HOSTILE}"),
    )
    return GalleryEntry(HOSTILE, views, page=folder / "sub" / HOSTILE / "index.html")


def test_hostile_file_names_cannot_inject_markup(tmp_path: Path) -> None:
    page = render_html([hostile_entry(tmp_path)], tmp_path, title=f"sweep of {HOSTILE}", notes=[HOSTILE])
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parser = TagCollector()
    parser.feed(page)
    tags = [tag for tag, _ in parser.tags]
    assert tags.count("script") == 2  # the JSON data block and the page's own script
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("data:image/jpeg;base64,") or re.fullmatch(r"[A-Za-z0-9%._/\-~]+", value), value
    data = json.loads(parser.scripts[0])
    assert data["entries"][0]["name"] == HOSTILE
    assert data["entries"][0]["views"][1]["label"] == f"alpha=0.50 {HOSTILE}"
    assert "</script>" not in parser.scripts[0] and "<" not in parser.scripts[0]


def test_links_are_relative_and_percent_quoted(tmp_path: Path) -> None:
    assert file_url(tmp_path / "out a#1?.png", tmp_path) == "out%20a%231%3F.png"
    assert file_url(tmp_path / "javascript:alert(1).png", tmp_path) == "javascript%3Aalert%281%29.png"
    assert file_url(tmp_path / "in.png", tmp_path / "gallery") == "../in.png"
    assert file_url(tmp_path / "ü.png", tmp_path) == "%C3%BC.png"


def test_script_json_cannot_close_its_element() -> None:
    value = {"name": "</script><b>&amp;", "n": [1, 2.5]}
    text = script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_page_is_offline_and_its_csp_allows_exactly_its_own_code(tmp_path: Path) -> None:
    entry = GalleryEntry(
        "cat.png", (GalleryView("input", tmp_path / "cat.png"), GalleryView("alpha=1.00", tmp_path / "o.png"))
    )
    path = tmp_path / "index.html"
    write_html(path, [entry], title="cat", grid=tmp_path / "grid.png")
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in policy
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script is not None and style is not None
    for source, directive in ((script.group(1), "script-src"), (style.group(1), "style-src")):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert 'href="grid.png"' in page
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_view_gets_a_thumbnail_and_a_full_size_link(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).random((300, 500, 3), dtype=np.float32)
    views = tuple(GalleryView(f"v{k}", tmp_path / f"v{k}.png", thumbnail(pixels)) for k in range(4))
    page = render_html([GalleryEntry("x", views)], tmp_path, title="x")
    parser = TagCollector()
    parser.feed(page)
    figures = [attrs for tag, attrs in parser.tags if tag == "figure"]
    assert [(f["data-entry"], f["data-view"]) for f in figures] == [("0", str(k)) for k in range(4)]
    links = [attrs["href"] for tag, attrs in parser.tags if tag == "a" and attrs.get("class") == "full"]
    assert links == [f"v{k}.png" for k in range(4)]


def test_an_empty_gallery_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        render_html([], tmp_path, title="x")
