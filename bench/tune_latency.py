"""Benchmark: how soon ``tunecli tune`` shows a new view after the slider stops.

Starts the page's own server (:mod:`tunecli.tune.server`) on the default denoiser and drives
its render endpoint over HTTP as the page does while the user drags: every slider position
sends a request at once (the page aborts the one in flight; the server drops or stops every
request a newer one overtakes). The time from the last position (the slider stopping) to that
position's PNG arriving is the latency; the table gives its median and 95th percentile over a
scripted series of drags, with a lone request (nothing in flight) for comparison.

    python bench/tune_latency.py                       # 0.2 MP region, 10 drags of 12 steps
    python bench/tune_latency.py --drags 20 --out bench/results/tune_latency.md
    python bench/tune_latency.py --screenshot bench/results/tune-page.png   # the page, in Chromium

The photo is the shipped ``chelsea-noisy25.png`` mirrored 2x2 (902x600), so that a region of
``--side``² pixels fits inside it away from the borders.

``--precisions auto,fp32`` (the default) measures the page at each precision in one run: ``auto``
is what ``tunecli tune`` computes at by default (bf16 on a CPU with native bfloat16,
:func:`tunecli.device.view_precision`); the table then also gives how far the view at each
precision lies from the fp32 one (largest difference in 8-bit levels, PSNR between the two).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from tunecli.api import load
from tunecli.device import cpu_model, resolve_device, view_precision
from tunecli.imageio import read_image
from tunecli.tasks import default_models
from tunecli.tune.command import CommandLine
from tunecli.tune.server import TuneServer, bind_local
from tunecli.tune.session import TuneSession

SAMPLE = Path(__file__).resolve().parents[1] / "tunecli" / "samples" / "chelsea-noisy25.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def mosaic(folder: Path) -> Path:
    """The sample mirrored 2x2 (a seamless 902x600 photo)."""
    pixels = np.asarray(PILImage.open(SAMPLE).convert("RGB"))
    top = np.concatenate([pixels, pixels[:, ::-1]], axis=1)
    path = folder / "chelsea-2x2.png"
    PILImage.fromarray(np.concatenate([top, top[::-1]], axis=0)).save(path)
    return path


class Driver:
    """Sends render requests to the running server, each on its own thread, and records when
    each answered and how (200: rendered, 409: superseded)."""

    def __init__(self, server: TuneServer, region: tuple[int, int, int, int]) -> None:
        self.base = server.url.split("?", 1)[0]
        self.token = server.token
        self.region = region
        self.answers: dict[int, tuple[float, int]] = {}

    def send(self, key: int, alpha: float) -> threading.Thread:
        x, y, w, h = self.region
        query = urllib.parse.urlencode({"token": self.token, "alpha": f"{alpha:g}", "x": x, "y": y, "w": w, "h": h})

        def fetch() -> None:
            try:
                with urllib.request.urlopen(f"{self.base}api/render?{query}", timeout=120) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as err:
                status = err.code
            self.answers[key] = (time.perf_counter(), status)

        thread = threading.Thread(target=fetch)
        thread.start()
        return thread

    def drag(self, start: float, stop: float, steps: int, interval: float) -> tuple[float, int]:
        """One drag; (seconds from the last position to its view, requests superseded)."""
        self.answers.clear()
        threads = []
        positions = [round(start + (stop - start) * i / (steps - 1), 2) for i in range(steps)]
        sent = 0.0
        for key, alpha in enumerate(positions):
            sent = time.perf_counter()
            threads.append(self.send(key, alpha))
            if key < steps - 1:
                time.sleep(interval)
        for thread in threads:
            thread.join()
        answered, status = self.answers[steps - 1]
        if status != 200:
            raise RuntimeError(f"the last position was answered {status}")
        return answered - sent, sum(1 for _, code in self.answers.values() if code == 409)

    def lone(self, alpha: float) -> float:
        self.answers.clear()
        sent = time.perf_counter()
        self.send(0, alpha).join()
        return self.answers[0][0] - sent


def engine_only(session: TuneSession, region: tuple[int, int, int, int]) -> tuple[list[float], list[float]]:
    """Seconds of :meth:`TuneSession.render` itself (the region's context crop through the engine)
    at fresh alphas, and of baking those alphas' kernels alone."""
    from tunecli.tune.regions import Region

    rendered, baked = [], []
    for k in range(3):
        omega = session.restorer.parse_alpha(f"{0.81 + 0.01 * k:.2f}").omega
        began = time.perf_counter()
        session.render(omega, Region(*region))
        rendered.append(time.perf_counter() - began)
        omega = session.restorer.parse_alpha(f"{0.91 + 0.01 * k:.2f}").omega
        began = time.perf_counter()
        session.restorer.baked(omega)
        baked.append(time.perf_counter() - began)
    return rendered, baked


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def screenshot(server: TuneServer, path: Path) -> None:
    """The page in headless Chromium (Debian's, via Playwright's client), the slider moved once."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(server.url)
        page.locator("#alpha-0").fill("35")
        for _ in range(600):
            if page.evaluate("document.querySelector('img.tile').dataset.alpha === '0.35'"):
                break
            page.wait_for_timeout(100)
        page.locator("#split").fill("520")
        page.locator("h1").click()  # no focus ring in the picture
        page.wait_for_timeout(300)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_models()["denoise"])
    parser.add_argument("--side", type=int, default=448, help="region side in pixels (448: 0.2 MP)")
    parser.add_argument("--drags", type=int, default=10)
    parser.add_argument("--steps", type=int, default=12, help="slider positions per drag")
    parser.add_argument("--interval", type=float, default=0.033, help="seconds between positions (30 Hz)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", default="auto,fp32", help="the page's --precision values to measure, in turn")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the page (the plain sample) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    precisions = [view_precision(text, resolve_device("cpu")) for text in args.precisions.split(",")]
    if args.screenshot:
        precisions = precisions[:1]
    rows: list[str] = []
    views: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as folder:
        source = SAMPLE if args.screenshot else mosaic(Path(folder))
        image = read_image(source)
        for precision in precisions:
            restorer = load(args.model, device="cpu", precision=precision)
            # the screenshot's page says where Save writes as a user's would (it saves nothing)
            output = None if args.screenshot else Path(folder)
            command = CommandLine("denoise", source, args.model, output=output, precision=precision)
            session = TuneSession(restorer, image, command, restorer.alpha_space.default)
            server = TuneServer(session, bind_local(0))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                if args.screenshot:
                    screenshot(server, args.screenshot)
                    print(f"wrote {args.screenshot}")
                    return
                rows += report(server, session, args, restorer.compute_text, views)
            finally:
                server.stop()
                thread.join(10)
    side, width, height = args.side, image.width, image.height
    lines = [
        f"tunecli tune latency · {args.model} · region {side}x{side} ({side * side / 1e6:.2f} MP) of a "
        f"{width}x{height} photo",
        f"{cpu_model()} · torch {torch.__version__} · {args.threads} threads · "
        f"{args.drags} drags of {args.steps} positions every {args.interval * 1000:.0f} ms",
        "",
        "| compute | measure | median s | p95 s | n |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Superseded: earlier positions of a drag that were dropped or stopped, not queued. The view is the PNG "
        "received (the browser's decode, a few ms, not included).",
    ]
    if "fp32" in views:
        lines.append("")
        lines.append("The view at alpha 0.5 against the fp32 one (8-bit levels):")
        lines.append("")
        for precision, view in views.items():
            if precision != "fp32":
                error = view.astype(np.float64) - views["fp32"]
                psnr = 10 * np.log10(1.0 / max(float(np.mean(error**2)), 1e-20))
                lines.append(
                    f"- {precision}: largest difference {np.abs(error).max() * 255:.2f} levels, "
                    f"mean {np.abs(error).mean() * 255:.3f}, PSNR {psnr:.1f} dB"
                )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


def report(
    server: TuneServer,
    session: TuneSession,
    args: argparse.Namespace,
    compute: str,
    views: dict[str, np.ndarray],
) -> list[str]:
    """The table rows of one precision; the view at alpha 0.5 goes into ``views`` under its precision."""
    from tunecli.tune.regions import Region

    side = args.side
    width, height = session.image.width, session.image.height
    region = ((width - side) // 2, (height - side) // 2, side, side)
    driver = Driver(server, region)
    driver.lone(0.5)  # warm-up: first bake, first allocations
    lone = [driver.lone(a) for a in (0.3, 0.4, 0.6)]
    stops: list[float] = []
    superseded = 0
    for k in range(args.drags):
        start, stop = (0.1, 0.7) if k % 2 == 0 else (0.7, 0.15)
        start += 0.01 * k  # new positions each drag: every view bakes its kernels afresh
        seconds, dropped = driver.drag(start, stop + 0.01 * k, args.steps, args.interval)
        stops.append(seconds)
        superseded += dropped
        time.sleep(0.3)
    engine, baking = engine_only(session, region)
    views[compute.split()[-1]] = session.render(session.restorer.parse_alpha("0.5").omega, Region(*region))

    def row(measure: str, values: list[float]) -> str:
        return f"| {compute} | {measure} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} | {len(values)} |"

    return [
        row("slider stop → new view (drag)", stops),
        row("lone request (nothing in flight)", lone),
        row("engine alone: the region at a new alpha, no HTTP", engine),
        row("… of which baking the kernels", baking),
        f"| {compute} | superseded, of {args.drags * (args.steps - 1)} earlier positions | {superseded} | | |",
    ]


if __name__ == "__main__":
    main()
