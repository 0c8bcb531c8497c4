"""A local HTTP receiver standing in for a chat webhook: what was POSTed, in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import serve_app

__all__ = ["receive_webhooks"]


@contextmanager
def receive_webhooks(token: str = "S3CRET-token-123") -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yields the hook URL (with ``token`` in its path, as real webhook URLs carry) and the bodies."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/hook/{token}", hook, methods=["POST"])])) as base:
        yield f"{base}/hook/{token}", received
