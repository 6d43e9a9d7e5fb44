"""The page's endpoints (starlette's TestClient): the token and Host/Origin checks, the render
contract (a bad alpha is a 400 with the CLI's own one-line message), Save, and the rule that only
the newest view request is computed."""

from __future__ import annotations

import io
import shlex
import threading
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from tune_support import SessionFactory
from typer.testing import CliRunner

from tunecli.cli import app
from tunecli.gallery.grid import to_rgb8
from tunecli.imageio.remote import location
from tunecli.runner import OutputOptions, plan_jobs
from tunecli.tune.regions import Region
from tunecli.tune.session import LatestOnly, Superseded, TuneSession

pytest.importorskip("starlette", reason="the [ui] extra (starlette, uvicorn) is not installed")
pytest.importorskip("starlette.testclient", reason="starlette's TestClient needs httpx2 (or httpx)")

from starlette.testclient import TestClient

from tunecli.tune.server import SECURITY_HEADERS, create_app

PORT = 8765
TOKEN = "test-token-123"
BASE = f"http://127.0.0.1:{PORT}"


def client(session: TuneSession) -> TestClient:
    return TestClient(create_app(session, TOKEN, PORT), base_url=BASE)


def rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("path", ["/", "/tune.js", "/tune.css", "/api/info", "/api/source.png", "/api/progress"])
def test_every_endpoint_needs_the_token(make_session: SessionFactory, path: str) -> None:
    with client(make_session()) as http:
        assert http.get(f"{path}?token={TOKEN}").status_code == 200
        for query in ("", "?token=", "?token=test-token-12", f"?token={TOKEN}x"):
            refused = http.get(path + query)
            assert refused.status_code == 403
            assert refused.text == "forbidden: missing or wrong token"
    assert http.post("/api/save", json={"alpha": "0.5"}).status_code == 403


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"host": f"evil.example:{PORT}"}, "unknown Host"),  # a DNS-rebinding name
        ({"host": "127.0.0.1:9999"}, "unknown Host"),
        ({"origin": "http://evil.example"}, "foreign Origin"),
        ({"origin": "null"}, "foreign Origin"),
        ({"origin": f"http://127.0.0.1:{PORT + 1}"}, "foreign Origin"),
        ({"sec-fetch-site": "cross-site"}, "cross-site request"),
        ({"sec-fetch-site": "same-site"}, "cross-site request"),
    ],
)
def test_foreign_host_or_origin_gets_403_even_with_the_token(
    make_session: SessionFactory, headers: dict[str, str], reason: str
) -> None:
    with client(make_session()) as http:
        response = http.get(f"/api/source.png?token={TOKEN}", headers=headers)
        assert response.status_code == 403
        assert response.text == f"forbidden: {reason}"
        saved = http.post(f"/api/save?token={TOKEN}", json={"alpha": "0.5"}, headers=headers)
        assert saved.status_code == 403


def test_own_origin_and_localhost_are_served_with_strict_headers(make_session: SessionFactory) -> None:
    with client(make_session()) as http:
        for headers in ({"origin": BASE}, {"host": f"localhost:{PORT}"}, {"sec-fetch-site": "same-origin"}):
            response = http.get(f"/api/info?token={TOKEN}", headers=headers)
            assert response.status_code == 200, headers
        for response in (http.get(f"/?token={TOKEN}"), http.get("/")):
            for key, value in SECURITY_HEADERS.items():
                assert response.headers[key] == value
        page = http.get(f"/?token={TOKEN}").text
    assert f'src="tune.js?token={TOKEN}"' in page and "{{token}}" not in page
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere


def test_info_describes_the_image_and_the_alpha_axes(make_session: SessionFactory) -> None:
    session = make_session("deblur")
    with client(session) as http:
        info = http.get(f"/api/info?token={TOKEN}").json()
    assert (info["image"], info["width"], info["height"], info["scale"]) == ("photo.png", 96, 64, 1)
    assert info["task"] == "deblur" and info["tile_exact"] is True
    assert info["space"]["domain"] == "box" and info["space"]["scalar"] is False
    assert info["space"]["axes"] == [
        {"name": "noise", "meaning": "noise removal"},
        {"name": "blur", "meaning": "sharpening"},
    ]
    assert info["alpha"] == [0.2, 0.5]
    assert info["output"] is None and info["overwrite"] is False


@pytest.mark.parametrize("task", ["denoise", "upscale"])
def test_render_returns_the_region_at_that_alpha(make_session: SessionFactory, task: str) -> None:
    session = make_session(task)
    scale = session.restorer.scale
    with client(session) as http:
        response = http.get(f"/api/render?token={TOKEN}&alpha=0.8&x=10&y=5&w=40&h=30")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-alpha"] == "0.8"
    shown = rgb(response.content)
    assert shown.shape == (30 * scale, 40 * scale, 3)
    whole = session.restorer.run(session.image, alpha=0.8).pixels
    expected = np.asarray(to_rgb8(whole))[5 * scale : 35 * scale, 10 * scale : 50 * scale]
    assert np.abs(shown.astype(int) - expected).max() <= 1


def cli_error(*args: str) -> str:
    """The one-line message ``tunecli`` prints for ``args`` (without ``error: ``)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    return result.stderr[len("error: ") : -1]


@pytest.mark.parametrize(
    ("task", "alpha"),
    [
        *[("denoise", alpha) for alpha in ("1.5", "soft", "0.2,0.3,0.5", "strong=-1", "")],
        *[("deblur", alpha) for alpha in ("noise=2", "colour=0.1", "0.5")],
    ],
)
def test_bad_alpha_is_400_with_the_clis_message(make_session: SessionFactory, task: str, alpha: str) -> None:
    session = make_session(task)
    expected = cli_error(task, "--alpha", alpha, "--model", session.command.model, str(session.command.image))
    with client(session) as http:
        query = {"token": TOKEN, "alpha": alpha, "x": 0, "y": 0, "w": 8, "h": 8}
        response = http.get("/api/render", params=query)
        assert response.status_code == 400
        assert response.json() == {"error": expected}
        saved = http.post(f"/api/save?token={TOKEN}", json={"alpha": alpha})
        assert saved.status_code == 400
        assert saved.json() == {"error": expected}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("x=0&y=0&w=97&h=8", "region 97x8 at (0, 0) is not inside the 96x64 image"),
        ("x=0&y=0&w=0&h=8", "region 0x8 is empty"),
        ("x=a&y=0&w=8&h=8", "x must be a whole number of pixels, not 'a'"),
        ("y=0&w=8&h=8", "x must be a whole number of pixels, not ''"),
    ],
)
def test_bad_region_is_400_in_one_line(make_session: SessionFactory, query: str, message: str) -> None:
    with client(make_session()) as http:
        response = http.get(f"/api/render?token={TOKEN}&alpha=0.5&{query}")
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_save_writes_like_the_task_command_and_never_overwrites(make_session: SessionFactory, tmp_path: Path) -> None:
    out = tmp_path / "out"
    session = make_session("denoise", output=out)
    with client(session) as http:
        response = http.post(f"/api/save?token={TOKEN}", json={"alpha": "0.37"})
        assert response.status_code == 200, response.text
        saved = response.json()
        assert saved["output"] == str(out / "photo_denoise_a0.37.png")
        assert saved["alpha"] == "0.37"
        assert http.get(f"/api/progress?token={TOKEN}").json() == {"state": "done", "done": 1, "total": 1}
        again = http.post(f"/api/save?token={TOKEN}", json={"alpha": "0.37"})
        assert again.status_code == 409
        assert again.json() == {
            "error": f"{out / 'photo_denoise_a0.37.png'}: already exists (start tunecli tune with --overwrite to replace it)"
        }
        assert http.post(f"/api/save?token={TOKEN}", content=b"not json").status_code == 400
    written = np.asarray(Image.open(saved["output"]))
    expected = session.restorer.run(np.asarray(Image.open(session.command.image)), alpha=0.37)
    np.testing.assert_array_equal(written, expected)
    assert sorted(p.name for p in out.iterdir()) == ["photo_denoise_a0.37.png"]  # no temporary file left

    # the printed command, parsed by the CLI, writes that same file
    words = shlex.split(saved["command"])
    assert words[:2] == ["tunecli", "denoise"]
    command = typer.main.get_command(app).commands["denoise"]  # type: ignore[attr-defined]
    params = command.make_context("denoise", words[2:]).params
    output, inputs = location(params["output"]), [location(text) for text in params["inputs"]]
    assert (params["alpha"], params["model"], output) == ("0.37", session.command.model, out)
    options = OutputOptions(output=output)
    (job,) = plan_jobs(inputs, task="denoise", label="a0.37", options=options).jobs
    assert str(job.target) == saved["output"]


def test_save_with_overwrite_replaces(make_session: SessionFactory) -> None:
    session = make_session("deblur", overwrite=True)
    target = session.command.image.with_name("photo_deblur_a0.20-0.50.png")
    target.write_bytes(b"old")
    with client(session) as http:
        response = http.post(f"/api/save?token={TOKEN}", json={"alpha": "noise=0.2,blur=0.5"})
    assert response.status_code == 200, response.text
    assert response.json()["output"] == str(target)
    assert response.json()["command"].endswith(f"--overwrite {session.command.image}")
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_a_newer_request_supersedes_waiting_and_running_ones() -> None:
    scheduler = LatestOnly()
    release = threading.Event()
    started = threading.Event()
    outcomes: dict[str, object] = {}

    def slow() -> str:
        started.set()
        release.wait(10)
        return "cancelled" if scheduler.cancelled else "finished"

    def request(name: str, number: int, compute=lambda: "done") -> None:
        try:
            outcomes[name] = scheduler.run_view(number, compute)
        except Superseded:
            outcomes[name] = "superseded"

    first = threading.Thread(target=request, args=("first", scheduler.arrive(), slow))
    first.start()
    started.wait(10)
    assert not scheduler.cancelled
    second = threading.Thread(target=request, args=("second", scheduler.arrive()))
    second.start()  # waits for the first, which is now overtaken
    assert scheduler.cancelled
    third = threading.Thread(target=request, args=("third", scheduler.arrive()))
    third.start()
    second.join(10)
    assert outcomes["second"] == "superseded"  # dropped while waiting, never run
    release.set()
    for thread in (first, third):
        thread.join(10)
    assert outcomes == {"first": "cancelled", "second": "superseded", "third": "done"}
    with pytest.raises(Superseded):
        scheduler.run_view(2, lambda: "stale")  # an old number is never run


def test_a_running_render_stops_at_its_next_layer(
    make_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session("denoise")
    omega = session.restorer.alpha_space.default
    layers: list[str] = []
    session._watch(omega)
    for name, module in session.restorer.baked(omega).named_modules():
        module.register_forward_hook(lambda *args, name=name: layers.append(name))
    real_restore = session.restorer.restore

    def overtaken(*args, **kwargs):
        session.scheduler.arrive()  # a newer request arrives as this one starts computing
        return real_restore(*args, **kwargs)

    monkeypatch.setattr(session.restorer, "restore", overtaken)
    with pytest.raises(Superseded):
        session.render_png(omega, Region(0, 0, 96, 64), session.scheduler.arrive())
    assert layers == []  # stopped before the first layer finished
    monkeypatch.setattr(session.restorer, "restore", real_restore)
    assert session.render_png(omega, Region(0, 0, 96, 64), session.scheduler.arrive())[:4] == b"\x89PNG"
    assert layers  # the hooks stay quiet while the render is the newest


def test_superseded_render_is_409(make_session: SessionFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session()

    def overtaken(*args: object) -> bytes:
        raise Superseded

    monkeypatch.setattr(session, "render_png", overtaken)
    with client(session) as http:
        response = http.get(f"/api/render?token={TOKEN}&alpha=0.5&x=0&y=0&w=8&h=8")
    assert response.status_code == 409
    assert response.json() == {"error": "superseded by a newer request"}
