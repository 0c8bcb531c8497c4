"""Record every HTTP call the tool makes: an ASGI layer around an app, or a proxy in front of a server.

``Recorder(app)`` wraps an ASGI app (the emulators); ``recording_proxy(target)`` serves a loopback
proxy to a real server (the Scramjet hub) and yields ``(proxy_url, recorder)``. ``recorder.calls``
holds ``"METHOD /path"`` in order; ``writes()`` the calls that are not reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import serve_app

__all__ = ["Recorder", "is_read", "recording_proxy"]

# Steamship lists and reads with POST (its API has no GET); these operations change nothing.
STEAMSHIP_READS = ("/workspace/list", "/workspace/get", "/package/instance/list", "/package/instance/get",
                   "/package/get", "/package/version/list", "/task/status")  # fmt: skip


def is_read(call: str) -> bool:
    method, path = call.split(" ", 1)
    return method in ("GET", "HEAD") or (method == "POST" and path.endswith(STEAMSHIP_READS))


class Recorder:
    def __init__(self, app: Any = None) -> None:
        self.app = app
        self.calls: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)

    def writes(self) -> list[str]:
        return [c for c in self.calls if not is_read(c)]


@contextmanager
def recording_proxy(target: str) -> Iterator[tuple[str, Recorder]]:
    """A loopback proxy to ``target`` (``http://host:port``) that records each call."""
    client = httpx2.AsyncClient(base_url=target, timeout=30.0)

    async def forward(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = await client.request(
            request.method, request.url.path, params=request.query_params, headers=headers,
            content=await request.body(),
        )  # fmt: skip
        kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    recorder = Recorder(Starlette(routes=[Route("/{path:path}", forward, methods=methods)]))
    with serve_app(recorder) as url:
        yield url, recorder
