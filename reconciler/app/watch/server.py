"""The HTTP endpoint of ``reconciler watch`` (starlette, served by uvicorn in the same event loop).

``/healthz`` (the loop is alive), ``/readyz`` (the stack folders and the schedule's store are
reachable), ``/metrics`` (Prometheus), ``/api/v1/stacks`` and ``/api/v1/stacks/{name}`` (JSON,
``docs/watch.md``), ``/`` (the live page). Loopback by default. Another address needs
``--allow-remote`` and a token (``RECONCILER_WATCH_TOKEN``, 16 characters or more), which every
request from another host must then send (``Authorization: Bearer …``), except the probes, which
say nothing but ok or not. The token is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reconciler.app.watch.loop import Watcher
from reconciler.app.watch.metrics import WatchMetrics
from reconciler.app.watch.page import render_page, stacks_document
from reconciler.errors import ReconcilerError

__all__ = ["TOKEN_VAR", "Listen", "build_app", "check_listen", "parse_listen", "serve"]

TOKEN_VAR = "RECONCILER_WATCH_TOKEN"
MIN_TOKEN_LENGTH = 16
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


def parse_listen(text: str) -> Listen:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6); ValueError saying what was expected."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9464, got {text!r}")
    return Listen(host.strip("[]"), int(port))


def check_listen(listen: Listen, allow_remote: bool, environ: Mapping[str, str]) -> str | None:
    """The token remote clients must send (None: loopback only); ReconcilerError when refused."""
    from reconciler.sandbox.bind import is_loopback

    token = environ.get(TOKEN_VAR, "").strip() or None
    if not is_loopback(listen.host) and not allow_remote:
        raise ReconcilerError(
            f"refusing to listen on {listen.host}: it is not a loopback address, and the status page and "
            f"API would be open to the network. Listen on 127.0.0.1 (the default), or pass --allow-remote "
            f"with {TOKEN_VAR} set to a token that clients from other hosts must send"
        )
    if allow_remote and token is None:
        raise ReconcilerError(
            f"--allow-remote needs a token: set {TOKEN_VAR} (at least {MIN_TOKEN_LENGTH} characters)"
        )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ReconcilerError(f"{TOKEN_VAR} is too short: use at least {MIN_TOKEN_LENGTH} characters")
    return token


def build_app(
    watcher: Watcher,
    metrics: WatchMetrics,
    *,
    token: str | None,
    refresh_s: int,
    alive_within_s: float,
) -> Starlette:
    async def document() -> dict[str, Any]:
        results = await watcher.schedule.results()
        known = {k: v for k, v in results.items() if k in watcher.refs}
        return stacks_document(
            known,
            replica=watcher.ctx.replica,
            suspended=watcher.options.suspended(),
            discovery_error=watcher.discovery_error,
            sandbox=watcher.ctx.sandbox,
        )

    async def healthz(_request: Request) -> Response:
        stalled = time.monotonic() - watcher.last_tick
        if stalled > alive_within_s:
            return PlainTextResponse(f"stalled: no loop iteration for {stalled:.0f}s\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def readyz(_request: Request) -> Response:
        problems = [f"{root}: not a readable folder" for root in watcher.options.roots if not _readable(root)]
        if watcher.discovery_error:
            problems.append("reading the stack folders failed")
        if not watcher.started:
            problems.append("starting")
        if watcher.schedule_error:
            problems.append("the schedule's store failed")
        try:
            store = await watcher.schedule.ready()
        except Exception:  # what the store says may name hosts: only that it failed
            store = "unreachable"
        if store:
            problems.append(f"the schedule's store: {store}")
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def prometheus(_request: Request) -> Response:
        results = await watcher.schedule.results()
        body = metrics.render({k: v for k, v in results.items() if k in watcher.refs})
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def stacks(_request: Request) -> Response:
        return JSONResponse(await document())

    async def one_stack(request: Request) -> Response:
        name = request.path_params["name"]
        found = next((s for s in (await document())["stacks"] if s["name"] == name), None)
        if found is None:
            return JSONResponse({"error": "no such stack"}, status_code=404)
        return JSONResponse(found)

    async def page(_request: Request) -> Response:
        return HTMLResponse(render_page(await document(), refresh_s=refresh_s))

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            Route("/api/v1/stacks", stacks),
            Route("/api/v1/stacks/{name:path}", one_stack),
            Route("/", page),
        ]
    )
    return _Guarded(app, token)  # type: ignore[return-value]


class _Guarded:
    """ASGI layer: requests from another host need the token (the probes excepted)."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._allowed(scope):
            response = PlainTextResponse(
                "a token is needed: Authorization: Bearer <token>\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Any) -> bool:
        from reconciler.sandbox.bind import is_loopback

        client = scope.get("client")
        if client and is_loopback(str(client[0])):
            return True
        if self.token is None:
            return False
        sent = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode())


def _readable(root: Any) -> bool:
    return bool(root.is_dir() and os.access(root, os.R_OK | os.X_OK))


@contextlib.asynccontextmanager
async def serve(app: Any, listen: Listen) -> AsyncIterator[str]:
    """Serve ``app`` for the block; yields ``HOST:PORT`` as bound (port 0 picks one). Signals
    stay with the watch loop: uvicorn installs no handler of its own."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        app, host=listen.host, port=listen.port, log_level="warning", lifespan="off", access_log=False
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if serving.done():
        with contextlib.suppress(SystemExit):
            serving.result()
        raise ReconcilerError(
            f"could not listen on {listen.host}:{listen.port} (in use, or not an address here)"
        )
    sockets = [sock for srv in server.servers for sock in srv.sockets]
    port = sockets[0].getsockname()[1] if sockets else listen.port
    try:
        yield f"{listen.host}:{port}"
    finally:
        server.should_exit = True
        await serving
