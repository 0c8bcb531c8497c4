"""Limits like a real API's, around one emulator: a request rate and a cap on calls in progress.

``ApiLimits(app, LimitConfig(rate_limit=R, max_inflight=C))`` is ASGI middleware for ONE API (each
API of ``sandbox serve`` gets its own, as each real API has its own limits):

- ``rate_limit``: a token bucket of ``R`` requests per second holding at most one second's worth
  (a burst of ``R``). A request that finds it empty gets **429** with ``Retry-After`` in whole
  seconds (as HTTP defines it, and as real APIs send it: the time until a token is free, rounded
  up, at least 1) and ``{"message": "rate limit exceeded: R requests per second"}``.
- ``max_inflight``: a request arriving while ``C`` are in progress gets **503** with
  ``{"message": "too many requests in progress (at most C)"}`` and no ``Retry-After``.

A rejected request never reaches the emulator (nothing changes) and a 503 costs no token.
``sandbox serve --rate-limit R --max-inflight C`` sets these; ``--sandbox`` reads them from
``RECONCILER_SANDBOX_RATE_LIMIT`` and ``RECONCILER_SANDBOX_MAX_INFLIGHT`` (:func:`from_environ`).
``stats`` counts ``requests``, ``429`` and ``503``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.errors import ReconcilerError
from reconciler.sandbox.faults import ASGIApp, Receive, Scope, Send

__all__ = ["ENV_MAX_INFLIGHT", "ENV_RATE_LIMIT", "ApiLimits", "LimitConfig", "from_environ"]

ENV_RATE_LIMIT = "RECONCILER_SANDBOX_RATE_LIMIT"
ENV_MAX_INFLIGHT = "RECONCILER_SANDBOX_MAX_INFLIGHT"


@dataclass(frozen=True)
class LimitConfig:
    rate_limit: float | None = None  # requests per second, per API
    max_inflight: int | None = None  # requests in progress at once, per API

    def __post_init__(self) -> None:
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ValueError(f"rate_limit must be > 0, got {self.rate_limit}")
        if self.max_inflight is not None and self.max_inflight < 1:
            raise ValueError(f"max_inflight must be >= 1, got {self.max_inflight}")

    def __bool__(self) -> bool:
        return self.rate_limit is not None or self.max_inflight is not None


def from_environ(environ: Mapping[str, str]) -> LimitConfig:
    """The limits ``--sandbox`` puts on its in-process emulators; a bad value is a clear error."""
    rate = _number(environ, ENV_RATE_LIMIT, float)
    inflight = _number(environ, ENV_MAX_INFLIGHT, int)
    return LimitConfig(rate_limit=rate, max_inflight=int(inflight) if inflight is not None else None)


def _number(environ: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value > 0 or not math.isfinite(value):
        what = "a whole number >= 1" if kind is int else "a number of requests per second > 0"
        raise ReconcilerError(f"${name}: expected {what}, got {raw!r}")
    return value


class ApiLimits:
    """ASGI middleware enforcing a :class:`LimitConfig` on one API; see the module docstring."""

    def __init__(
        self, app: ASGIApp, config: LimitConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app, self.config, self._clock = app, config, clock
        self.capacity = max(1.0, config.rate_limit or 0.0)
        self.tokens = self.capacity
        self.updated = clock()
        self.inflight = 0
        self.stats: dict[str, int] = {"requests": 0, "429": 0, "503": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.stats["requests"] += 1
        limit = self.config.max_inflight
        if limit is not None and self.inflight >= limit:
            await self._reject(send, 503, f"too many requests in progress (at most {limit})")
            return
        wait = self._take_token()
        if wait is not None:
            rate = self.config.rate_limit
            await self._reject(send, 429, f"rate limit exceeded: {rate:g} requests per second", wait)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1

    def _take_token(self) -> float | None:
        """None when a token was taken; else the seconds until one is free."""
        rate = self.config.rate_limit
        if rate is None:
            return None
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / rate

    async def _reject(self, send: Send, status: int, message: str, retry_after: float | None = None) -> None:
        self.stats[str(status)] += 1
        body = json.dumps({"message": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
