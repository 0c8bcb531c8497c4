"""Misbehaving HTTP servers (plain ASGI apps, served on loopback by ``serve_app``): a body that never
ends, a body that trickles, a redirect. Each counts what it did, so a test can tell how far the
client let it go."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

__all__ = ["Hostile"]

CHUNK = b"x" * 65536


@dataclass
class Hostile:
    """``mode``: "huge" (streams up to ``huge_bytes``), "declared" (claims a 600 MB Content-Length),
    "trickle" (one byte each ``trickle_s``), "redirect" (301 to ``location``)."""

    mode: str
    huge_bytes: int = 200 * 1024 * 1024
    trickle_s: float = 0.05
    location: str = "http://evil.invalid/steal?token=abc123secret"
    sent: int = 0  # body bytes written
    requests: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        if self.mode == "redirect":
            headers = [(b"location", self.location.encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 301, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_until_disconnected(receive, gone))
        try:
            await self._body(send, gone)
        finally:
            watcher.cancel()

    async def _body(self, send: Any, gone: asyncio.Event) -> None:
        headers = [(b"content-type", b"application/json")]
        if self.mode == "declared":
            headers.append((b"content-length", b"600000000"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.mode == "trickle":
            while not gone.is_set():
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                self.sent += 1
                await asyncio.sleep(self.trickle_s)
        else:
            while self.sent < self.huge_bytes and not gone.is_set():
                await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
                self.sent += len(CHUNK)
                await asyncio.sleep(0)  # let the disconnect watcher run
        await send({"type": "http.response.body", "body": b""})


async def _until_disconnected(receive: Any, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
