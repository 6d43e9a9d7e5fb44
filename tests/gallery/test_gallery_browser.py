"""index.html in a real browser: headless Chromium opens the page from disk (file://), and the
slider, the keyboard and the full-size view visibly change what is shown.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and Playwright's
Python client driving it; Playwright's own browser download is never used.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from tunecli.gallery.grid import thumbnail, to_rgb8
from tunecli.gallery.html import GalleryEntry, GalleryView, write_html

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A file name that would run script if the page did not escape it.
HOSTILE = '"><img src=x onerror=alert(1)>.png'
RED, GREEN, BLUE = (0.8, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.2, 0.8)


def chromium_path() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("no Chromium browser installed (Debian package 'chromium'; .ci/run installs it where apt works)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python client is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def gallery(folder: Path) -> Path:
    """A gallery of an input (a gradient) and three flat-coloured 'alphas'."""
    yy, xx = np.mgrid[0:90, 0:160].astype(np.float32)
    source = np.stack([xx / 159, yy / 89, np.full_like(xx, 0.5)], axis=2)
    views = []
    to_rgb8(source).save(folder / HOSTILE)
    views.append(GalleryView("input", folder / HOSTILE, thumbnail(source)))
    for k, colour in enumerate([RED, GREEN, BLUE]):
        pixels = np.broadcast_to(np.array(colour, dtype=np.float32), source.shape)
        path = folder / f"out a{k} #1.png"
        to_rgb8(pixels).save(path)
        views.append(GalleryView(f"alpha={k / 2:.2f}", path, thumbnail(pixels)))
    page = folder / "index.html"
    write_html(page, [GalleryEntry(HOSTILE, tuple(views))], title=f"sweep of {HOSTILE}")
    return page


def test_slider_keyboard_and_full_size_change_the_visible_image(browser: Browser, tmp_path: Path) -> None:
    page_path = gallery(tmp_path)
    page = browser.new_page(viewport={"width": 900, "height": 700})
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_path.as_uri())
    page.wait_for_function(
        "document.getElementById('img-b').complete && document.getElementById('img-a').naturalWidth > 0"
    )
    stage = page.locator("#stage")

    def shot() -> bytes:
        return stage.screenshot()

    def colour_at(png: bytes, fx: float, fy: float = 0.7) -> tuple[int, ...]:
        with Image.open(io.BytesIO(png)) as image:
            return image.convert("RGB").getpixel((int(image.width * fx), int(image.height * fy)))

    def near(colour: tuple[int, ...], expected: tuple[float, ...]) -> bool:
        return all(abs(c - round(e * 255)) <= 3 for c, e in zip(colour, expected, strict=True))

    assert page.locator("#tag-a").text_content() == "input"
    assert page.locator("#tag-b").text_content() == "alpha=0.00"
    before = shot()
    assert near(colour_at(before, 0.75), RED)  # right of the split: the first alpha
    assert not near(colour_at(before, 0.25), RED)  # left of it: the input

    # the slider: all the way left shows only the right-hand image
    page.locator("#split").focus()
    page.keyboard.press("Home")
    assert page.locator("#split").input_value() == "0"
    after_slider = shot()
    assert after_slider != before
    assert near(colour_at(after_slider, 0.25), RED)  # the split moved: the alpha fills the stage

    # the keyboard: → steps the right-hand image to the next alpha
    page.locator("h1").click()
    page.keyboard.press("ArrowRight")
    assert page.locator("#tag-b").text_content() == "alpha=0.50"
    after_key = shot()
    assert after_key != after_slider
    assert near(colour_at(after_key, 0.5), GREEN)
    page.keyboard.press("ArrowLeft")
    assert page.locator("#tag-b").text_content() == "alpha=0.00"
    assert shot() == after_slider

    # a thumbnail opens the full-size image; Escape closes it
    page.locator("figure[data-view='3'] a.full").click()
    lightbox = page.locator("#lightbox")
    assert lightbox.is_visible()
    # the full-size file loads asynchronously: wait for it before reading its size (polled from
    # here: the page's Content-Security-Policy refuses wait_for_function's string evaluation)
    width = 0
    for _ in range(100):
        width = page.evaluate("document.getElementById('lightbox-img').naturalWidth")
        if width:
            break
        page.wait_for_timeout(100)
    assert width == 160
    page.keyboard.press("Escape")
    assert not lightbox.is_visible()

    assert dialogs == [] and errors == []
    assert page.title() == f"sweep of {HOSTILE}"
    page.close()
