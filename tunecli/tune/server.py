"""The local web server of ``tunecli tune`` (starlette + uvicorn: the ``[ui]`` extra).

It listens on 127.0.0.1 only. Every request must carry the run's random token (``?token=``) and
come with this server's own ``Host`` — and ``Origin``, when the browser sends one — so another web
page open in the same browser can neither drive it nor read the photo (nor can a DNS-rebinding
name); anything else gets 403. Responses forbid framing, cross-origin embedding and every
source but the server itself (the page loads nothing from elsewhere).

Endpoints (all ``?token=…``):

* ``GET /`` the page; ``GET /tune.js``, ``GET /tune.css``, ``GET /favicon.svg`` its script, style and icon;
* ``GET /api/info`` the image, the model and its alpha axes (JSON);
* ``GET /api/source.png`` the input;
* ``GET /api/render?alpha=A&x=X&y=Y&w=W&h=H`` region ``(X, Y, W, H)`` of the input restored at
  ``A`` (``--alpha`` text), as a PNG of scale× its size; 400 with the CLI's one-line message for a
  bad alpha or region (JSON ``{"error": …}``), 409 when a newer request superseded it;
* ``POST /api/save`` (JSON ``{"alpha": A}``) writes the full-resolution output and returns its
  path and the equivalent command; ``GET /api/progress`` Save's progress.
"""

from __future__ import annotations

import errno
import secrets
import socket
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunecli.errors import OutputError, TunecliError, UsageError
from tunecli.tune.command import alpha_text
from tunecli.tune.session import Superseded, TuneSession

HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "cross-origin-resource-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_STATIC = {"/tune.js": "text/javascript", "/tune.css": "text/css", "/favicon.svg": "image/svg+xml"}


def new_token() -> str:
    """A random token for one run's URL (24 bytes, URL-safe)."""
    return secrets.token_urlsafe(24)


def bind_local(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: any free port); a port in use or not
    allowed is a one-line :class:`~tunecli.errors.UsageError`."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use; pass another --port (or 0 for any free port)") from None
        raise UsageError(f"cannot listen on {HOST}:{port} ({err.strerror or err})") from None
    return sock


class LocalOnly:
    """ASGI middleware: 403 for a request without the token or with a foreign ``Host``,
    ``Origin`` or cross-site ``Sec-Fetch-Site``; :data:`SECURITY_HEADERS` on every response."""

    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.hosts = {f"{HOST}:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    def refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or None."""
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if headers.get("host", "").lower() not in self.hosts:
            return "unknown Host"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return "foreign Origin"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site request"
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[-1]
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "missing or wrong token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(key.encode(), value.encode()) for key, value in SECURITY_HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        reason = self.refusal(scope)
        if reason is not None:
            response = PlainTextResponse(f"forbidden: {reason}", status_code=403)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _whole_number(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number of pixels, not {text!r}") from None


def create_app(session: TuneSession, token: str, port: int) -> Starlette:
    """The page's application, behind :class:`LocalOnly` for ``token`` on ``port``."""
    static = files("tunecli.tune") / "static"

    async def page(request: Request) -> Response:
        html = (static / "tune.html").read_text(encoding="utf-8").replace("{{token}}", token)
        return Response(html, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        path = request.url.path
        return Response((static / path.lstrip("/")).read_bytes(), media_type=_STATIC[path])

    async def info(request: Request) -> Response:
        return JSONResponse(session.info())

    async def source(request: Request) -> Response:
        return Response(await run_in_threadpool(session.source_png), media_type="image/png")

    async def render(request: Request) -> Response:
        try:
            omega = session.parse_alpha(request.query_params.get("alpha", ""))
            region = session.region(*(_whole_number(request, name) for name in ("x", "y", "w", "h")))
        except UsageError as err:
            return error_response(400, str(err))
        number = session.scheduler.arrive()
        try:
            png = await run_in_threadpool(session.render_png, omega, region, number)
        except Superseded:
            return error_response(409, "superseded by a newer request")
        except TunecliError as err:
            return error_response(500, str(err))
        return Response(
            png, media_type="image/png", headers={"x-alpha": alpha_text(session.restorer.alpha_space, omega)}
        )

    async def save(request: Request) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("alpha"), str):
            return error_response(400, 'send JSON {"alpha": "..."} with the alpha in --alpha syntax')
        try:
            omega = session.parse_alpha(body["alpha"])
        except UsageError as err:
            return error_response(400, str(err))
        try:
            saved = await run_in_threadpool(session.save, omega)
        except Superseded:
            return error_response(503, "tunecli tune is stopping")
        except OutputError as err:
            return error_response(409, str(err))
        except TunecliError as err:
            return error_response(500, str(err))
        return JSONResponse(saved.to_json())

    async def progress(request: Request) -> Response:
        return JSONResponse(session.progress.to_json())

    routes = [
        Route("/", page),
        *(Route(path, asset) for path in _STATIC),
        Route("/api/info", info),
        Route("/api/source.png", source),
        Route("/api/render", render),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/progress", progress),
    ]
    return Starlette(routes=routes, middleware=[Middleware(LocalOnly, token=token, port=port)])


class _Server(uvicorn.Server):
    """uvicorn's server that, on Ctrl-C, first stops the session's computation (so shutdown
    does not wait for a render) and remembers that it was interrupted."""

    def __init__(self, config: uvicorn.Config, session: TuneSession) -> None:
        super().__init__(config)
        self.session = session
        self.interrupted = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.interrupted = True
        self.session.close()
        super().handle_exit(sig, frame)


class TuneServer:
    """The server of one ``tunecli tune`` run: ``session`` served on ``sock`` (from :func:`bind_local`)."""

    def __init__(self, session: TuneSession, sock: socket.socket, token: str | None = None) -> None:
        self.session = session
        self.sock = sock
        self.token = token or new_token()
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(session, self.token, self.port),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._server = _Server(config, session)

    @property
    def url(self) -> str:
        """The page's address, token included."""
        return f"http://{HOST}:{self.port}/?token={self.token}"

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def run(self) -> bool:
        """Serve until :meth:`stop` or Ctrl-C; True when Ctrl-C (SIGINT/SIGTERM) stopped it.

        Signals are caught only on the main thread (uvicorn's rule); a server run on another
        thread stops with :meth:`stop`. The socket is closed afterwards.
        """
        try:
            self._server.run(sockets=[self.sock])
        except KeyboardInterrupt:  # uvicorn re-raises the signal it caught once it has shut down
            self._server.interrupted = True
        finally:
            self.session.close()
            self.sock.close()
        return self._server.interrupted

    def stop(self) -> None:
        """Ask the server to shut down (from any thread)."""
        self.session.close()
        self._server.should_exit = True
