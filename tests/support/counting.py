"""An ASGI layer that counts what reaches a server: requests in flight (and the most at once),
client connections, methods, Signaloid default-core lists."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Counting"]


class Counting:
    """ASGI layer: requests in flight (and the most at once), client connections, methods."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.reset()

    def reset(self) -> None:
        self.now = self.peak = 0
        self.clients: set[Any] = set()
        self.methods: Counter[str] = Counter()
        self.default_core_lists = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.clients.add(tuple(scope["client"]))
        self.methods[scope["method"]] += 1
        self.default_core_lists += (
            scope["path"].endswith("/cores") and b"default=true" in scope["query_string"]
        )
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1
