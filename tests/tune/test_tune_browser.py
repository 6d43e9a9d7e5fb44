"""The tuning page in a real browser: headless Chromium drives ``tunecli tune`` end to end — a
slider moves, the view changes to exactly the API's output at that alpha, Save writes the file
and prints the equivalent command, the before/after split drags, Ctrl-C ends the run with 130 —
and the page of every task shows its alpha controls.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and Playwright's
Python client driving it; Playwright's own browser download is never used.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image
from tune_support import RunningServer, SessionFactory

from tunecli.api import load
from tunecli.device import cpu_has_native_bf16
from tunecli.gallery.grid import to_rgb8

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow
pytest.importorskip("uvicorn", reason="the [ui] extra (starlette, uvicorn) is not installed")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLE = Path(__file__).resolve().parents[2] / "tunecli" / "samples" / "chelsea-noisy25.png"
WAIT_S = 90


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


def wait_until(page: Page, expression: str, what: str) -> None:
    """Poll ``expression`` in the page until it is truthy (polled from here: the page's
    Content-Security-Policy refuses wait_for_function's string evaluation)."""
    for _ in range(WAIT_S * 10):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}; status: {page.locator('#status').text_content()}")


def shown_alpha(selector: str) -> str:
    return f"(() => {{ const img = document.querySelector({selector!r}); return img && img.complete && img.dataset.alpha; }})()"


def pixels_of(page: Page, selector: str) -> np.ndarray:
    """The decoded pixels of an ``<img>`` on the page (drawn into a canvas, read back as PNG)."""
    url = page.evaluate(
        """(selector) => {
            const img = document.querySelector(selector);
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png");
        }""",
        selector,
    )
    return rgb(base64.b64decode(url.split(",", 1)[1]))


def rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def region_of(page: Page, selector: str) -> tuple[int, int, int, int]:
    data = page.evaluate(
        f"(() => {{ const d = document.querySelector({selector!r}).dataset; return [d.x, d.y, d.w, d.h]; }})()"
    )
    x, y, w, h = (int(v) for v in data)
    return x, y, w, h


def api_view(output: np.ndarray, region: tuple[int, int, int, int], scale: int = 1) -> np.ndarray:
    x, y, w, h = region
    return np.asarray(to_rgb8(output)).astype(np.int16)[y * scale : (y + h) * scale, x * scale : (x + w) * scale]


class CliRun:
    """``tunecli tune …`` as a child process; its stderr collected line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        command = [sys.executable, "-m", "tunecli", "tune", *args]
        self.process = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match[str]:
        for _ in range(WAIT_S * 10):
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None:
                break
            self.reader.join(0.1)
        raise AssertionError(f"tunecli tune printed no {pattern!r}: {self.lines}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        self.reader.join(5)
        return code


def drag_slider(page: Page, selector: str, to: float) -> None:
    """A real mouse drag of a range input's thumb to the fraction ``to`` of its track."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    value = float(page.locator(selector).input_value()) / 100
    thumb = 8  # half of Chromium's default thumb: the track runs between the thumb's centres
    span = box["width"] - 2 * thumb
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + thumb + value * span, y)
    page.mouse.down()
    page.mouse.move(box["x"] + thumb + to * span, y, steps=12)
    page.mouse.up()


def test_tune_end_to_end_with_the_shipped_denoiser(browser: Browser, tmp_path: Path) -> None:
    image = tmp_path / "chelsea.png"
    shutil.copy(SAMPLE, image)
    out = tmp_path / "out"
    run = CliRun(["chelsea.png", "-m", "denoise-unet", "--no-browser", "-o", "out"], cwd=tmp_path)
    try:
        # the page computes (and Save writes) at the view precision: bf16 on a CPU with native bfloat16
        precision = run.wait_for(r"with denoise-unet \(cpu (fp32|bf16)\)").group(1)
        assert precision == ("bf16" if cpu_has_native_bf16() else "fp32")
        url = run.wait_for(r"page: (http://127\.0\.0\.1:\d+/\?token=[\w-]+)").group(1)
        page = browser.new_page(viewport={"width": 640, "height": 420})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(url)
        wait_until(page, shown_alpha("img.tile"), "the first view")
        assert page.locator("#alpha-text").text_content() == "0.22"  # the model's default alpha
        assert "0 = gentle" in page.locator("#sliders").text_content()

        # 1:1 on a region: rendered from the full-resolution image
        page.locator("#zoom").click()
        wait_until(page, shown_alpha("#detail"), "the 1:1 region")
        first = pixels_of(page, "#detail")

        # a real drag of the slider: the view follows to the exact output at the final alpha
        drag_slider(page, "#alpha-0", 0.8)
        value = int(page.locator("#alpha-0").input_value())
        expected_alpha = str(value / 100)
        assert 60 <= value <= 95 and page.locator("#alpha-text").text_content() == expected_alpha
        wait_until(page, f"{shown_alpha('#detail')} === {expected_alpha!r}", "the view at the new alpha")
        region = region_of(page, "#detail")
        _, _, w, h = region
        assert 0 < w < 451 and h == 300  # a region of the photo, not all of it
        shown = pixels_of(page, "#detail")
        api = load("denoise-unet", device="cpu", precision=precision).run(image, alpha=float(expected_alpha)).pixels
        assert shown.shape == (h, w, 3)
        assert np.abs(shown - api_view(api, region)).max() <= 1  # within 1/255
        assert np.abs(shown - first).max() > 10  # and it did change

        # idle, the view is rendered at anchor alphas; the next slider step shows their blend at
        # once, labelled approximate, until the exact view replaces it
        wait_until(page, "Number(document.getElementById('stage').dataset.anchors) >= 6", "the anchors")
        page.locator("#alpha-0").focus()
        page.keyboard.press("ArrowLeft")
        step_alpha = str((value - 1) / 100)
        if value - 1 not in (0, 25, 50, 75, 100):  # else rendered before: exact at once
            assert page.locator("#tag-approx").is_visible()
            assert page.locator("#status").text_content().startswith("approximate view (blend of alpha ")
        wait_until(page, f"{shown_alpha('#detail')} === {step_alpha!r}", "the exact view after the step")
        assert not page.locator("#tag-approx").is_visible() and not page.locator("#approx").is_visible()
        page.keyboard.press("ArrowRight")  # back: rendered before, so exact at once
        assert page.evaluate("document.getElementById('detail').dataset.alpha") == expected_alpha
        wait_until(page, f"{shown_alpha('#detail')} === {expected_alpha!r}", "the cached view")
        assert np.abs(pixels_of(page, "#detail") - shown).max() == 0

        # what is on screen is that image (the split all the way left: only "after" shows)
        page.locator("#split").focus()
        page.keyboard.press("Home")
        stage = page.locator("#stage").bounding_box()
        detail = page.locator("#detail").bounding_box()
        assert stage is not None and detail is not None
        left, top = max(stage["x"], detail["x"]) + 16, max(stage["y"], detail["y"])  # right of the split line
        right = min(stage["x"] + stage["width"], detail["x"] + detail["width"]) - 16  # not the scrollbar
        bottom = min(stage["y"] + stage["height"], detail["y"] + detail["height"]) - 16
        clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
        screen = rgb(page.screenshot(clip=clip))
        dx, dy = round(left - detail["x"]), round(top - detail["y"])
        assert np.abs(screen - shown[dy : dy + screen.shape[0], dx : dx + screen.shape[1]]).max() <= 1

        # the split drags: the line moves and the before/after boundary with it
        page.locator("#split").fill("600")
        line = page.locator("#split-line").bounding_box()
        viewer = page.locator("#viewer").bounding_box()
        assert line is not None and viewer is not None
        before_drag = page.screenshot()
        page.mouse.move(line["x"] + line["width"] / 2, line["y"] + line["height"] / 2)
        page.mouse.down()
        page.mouse.move(viewer["x"] + 0.3 * viewer["width"], line["y"] + line["height"] / 2, steps=6)
        page.mouse.up()
        assert abs(int(page.locator("#split").input_value()) - 300) <= 5
        assert page.screenshot() != before_drag

        # Save: full resolution, the normal name, the equivalent command shown and printed
        page.locator("#save").click()
        wait_until(page, "!document.getElementById('saved').hidden", "Save")
        target = out / f"chelsea_denoise_a{value / 100:.2f}.png"
        named = " --precision bf16" if precision == "bf16" else ""
        command = f"tunecli denoise --alpha {expected_alpha} --model denoise-unet{named} -o out chelsea.png"
        assert page.locator("#saved-path").text_content() == str(Path("out") / target.name)
        assert page.locator("#command").text_content() == command
        run.wait_for(re.escape(f"command: {command}"))
        assert any(line.startswith(f"wrote: out/{target.name} (") for line in run.lines)
        written = np.asarray(Image.open(target).convert("RGB")).astype(np.int16)
        assert np.abs(written - np.asarray(to_rgb8(api)).astype(np.int16)).max() <= 1
        assert errors == []  # no script error, no failed request so far
        page.locator("#save").click()  # again: the file exists and is kept
        wait_until(page, "!document.getElementById('save-error').hidden", "the refusal")
        assert "already exists" in page.locator("#save-error").text_content()

        # without the token: 403, from the page itself and from outside
        assert page.evaluate("fetch('/api/info').then((r) => r.status)") == 403
        bare = url.split("?", 1)[0] + "api/source.png"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=10)
        assert refused.value.code == 403
        assert not [error for error in errors if "Failed to load resource" not in error]
        page.close()
    finally:
        code = run.stop()
    assert code == 130
    assert run.lines[-1] == "stopped"
    assert sorted(p.name for p in out.iterdir()) == [target.name]  # nothing left behind


def open_page(browser: Browser, server: RunningServer) -> Page:
    page = browser.new_page(viewport={"width": 900, "height": 520})
    page.goto(server.url)
    wait_until(page, shown_alpha("img.tile"), "the first view")
    return page


def test_deblur_page_has_a_slider_per_box_axis(
    browser: Browser, make_session: SessionFactory, serve: Callable[..., RunningServer]
) -> None:
    session = make_session("deblur")
    page = open_page(browser, serve(session))
    names = page.locator(".slider label span").all_text_contents()
    assert names == ["noise", "blur"]
    assert page.locator(".slider .meaning").all_text_contents() == ["noise removal", "sharpening"]
    assert page.locator("#alpha-text").text_content() == "noise=0.2,blur=0.5"
    page.locator("#alpha-1").focus()
    page.keyboard.press("End")
    assert page.locator("#alpha-text").text_content() == "noise=0.2,blur=1"
    wait_until(page, f"{shown_alpha('img.tile')} === 'noise=0.2,blur=1'", "the view at blur=1")
    api = session.restorer.run(session.image, alpha="noise=0.2,blur=1").pixels
    assert np.abs(pixels_of(page, "img.tile") - api_view(api, region_of(page, "img.tile"))).max() <= 1


def test_upscale_page_shows_before_and_after_at_the_same_size(
    browser: Browser, make_session: SessionFactory, serve: Callable[..., RunningServer]
) -> None:
    session = make_session("upscale")
    page = open_page(browser, serve(session))
    before = page.locator("#before").bounding_box()
    tile = page.locator("img.tile").bounding_box()
    assert before is not None and tile is not None
    assert tile == pytest.approx(before, abs=0.5)  # one fill region covers the 96x64 photo
    assert page.evaluate("document.querySelector('img.tile').naturalWidth") == 2 * 96
    api = session.restorer.run(session.image, alpha=0.5).pixels
    shown = pixels_of(page, "img.tile")
    assert np.abs(shown - api_view(api, region_of(page, "img.tile"), scale=2)).max() <= 1


def test_style_page_keeps_the_weights_on_the_simplex(
    browser: Browser, make_session: SessionFactory, serve: Callable[..., RunningServer]
) -> None:
    session = make_session("style")
    page = open_page(browser, serve(session))
    assert page.locator(".slider label span").all_text_contents() == ["starry", "scream", "wave", "kandinsky"]
    page.locator("#alpha-0").fill("70")
    weights = [int(page.locator(f"#alpha-{i}").input_value()) for i in range(4)]
    assert weights == [70, 10, 10, 10]
    assert page.locator("#weights").text_content() == (
        "weights (sum 1): starry 0.70 · scream 0.10 · wave 0.10 · kandinsky 0.10"
    )
    page.locator("#alpha-1").fill("0")
    weights = [int(page.locator(f"#alpha-{i}").input_value()) for i in range(4)]
    assert weights[1] == 0 and sum(weights) == 100 and weights[0] > weights[2] == weights[3]
    text = page.locator("#alpha-text").text_content()
    assert text == f"starry={weights[0] / 100:g},wave={weights[2] / 100:g},kandinsky={weights[3] / 100:g}"
    parsed = session.restorer.alpha_space.parse(text)
    assert parsed.notice is None  # on the simplex as sent
    wait_until(page, f"{shown_alpha('img.tile')} === {text!r}", "the view at the new weights")
    api = session.restorer.run(session.image, alpha=text).pixels
    assert np.abs(pixels_of(page, "img.tile") - api_view(api, region_of(page, "img.tile"))).max() <= 1


def test_a_larger_photo_fills_in_region_by_region(
    browser: Browser, make_session: SessionFactory, serve: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fill regions of 40 px (instead of 512) on the 96x64 photo: 3x2 regions, each rendered
    through the engine; together they are the whole output, seamless, at the current alpha."""
    monkeypatch.setattr("tunecli.tune.session.FILL_SIDE", 40)
    session = make_session("denoise")
    page = open_page(browser, serve(session))
    page.locator("#alpha-0").fill("90")
    every = "[...document.querySelectorAll('img.tile')].every((t) => t.complete && t.dataset.alpha === '0.9')"
    wait_until(page, every, "every region at 0.9")
    api = session.restorer.run(session.image, alpha=0.9).pixels
    composed = np.zeros((64, 96, 3), dtype=np.int16)
    regions = []
    for index in range(page.locator("img.tile").count()):
        selector = f"img.tile:nth-of-type({index + 1})"
        x, y, w, h = region_of(page, selector)
        regions.append((x, y, w, h))
        composed[y : y + h, x : x + w] = pixels_of(page, selector)
    assert sorted(regions) == sorted((x, y, 32, 32) for x in (0, 32, 64) for y in (0, 32))
    assert np.abs(composed - api_view(api, (0, 0, 96, 64))).max() <= 1
