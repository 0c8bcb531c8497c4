"""Fault injection around any emulator: latency, error answers, dropped connections, lost responses.

``FaultInjector(app, FaultConfig(...))`` is a plain ASGI middleware; wrap the OUTERMOST app (an
exception raised inside a Starlette app is turned into a 500 by its error middleware if no response
has started). ``latency_ms`` is each request's round trip: half of it on the way in (the API has
not seen the request yet, so nothing has happened), half on the way out (the change is made, the
answer is travelling). The emulator's own work is counted inside the way-out half: the answer
leaves ``latency_ms`` after the request arrived, or as soon as it is ready if that is later. A real
API serves requests concurrently; the single-threaded emulator would otherwise queue them and add
its own CPU to every answer, which no client can do anything about. With probability
``fault_rate`` a request gets one fault drawn from ``mix`` (``random.Random(seed)``: the same seed
and the same sequence of requests give the same faults):

- ``"500"`` / ``"503"``: JSON ``{"message": "injected fault"}``; the app is not called.
- ``"429"``: the same body with ``Retry-After: <retry_after_s>`` (integer seconds when whole, else a
  decimal such as ``0.5``, so benchmarks can run fast; clients should parse it as a float).
- ``"drop"``: the connection is dropped; the app is not called.
- ``"lost_response"`` (POST/PUT/PATCH/DELETE only): the app IS called and its change takes effect,
  then the connection is dropped instead of sending its response. On other methods: a ``drop``.

How a drop is made: the middleware starts a response that promises a body (``content-length``)
and raises :class:`ConnectionDropped`. uvicorn answers an exception raised *before* a response
starts with a 500, but after the start it just closes the socket, so an httpx2 client sees
``httpx2.RemoteProtocolError`` (incomplete body). In process, ``httpx2.ASGITransport`` re-raises the
app's exception, and since ``ConnectionDropped`` subclasses ``httpx2.RemoteProtocolError`` the client
sees the same exception type in both set-ups. uvicorn logs each drop as "Exception in ASGI
application"; that log line is expected.

``stats`` counts ``requests`` (HTTP requests seen), ``faults`` (total injected) and each kind
(a ``lost_response`` turned into a ``drop`` counts as ``drop``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx2

__all__ = ["FAULT_KINDS", "ConnectionDropped", "FaultConfig", "FaultInjector"]

FAULT_KINDS: tuple[str, ...] = ("500", "503", "429", "drop", "lost_response")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Sleep = Callable[[float], Awaitable[Any]]

_ERROR_BODY = json.dumps({"message": "injected fault"}).encode()


class ConnectionDropped(httpx2.RemoteProtocolError):
    """The injected "connection dropped" (see the module docstring for how it reaches clients)."""

    def __init__(self, message: str = "injected fault: connection dropped") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: float = 0
    fault_rate: float = 0.0
    seed: int | None = None
    mix: tuple[str, ...] = FAULT_KINDS
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mix", tuple(self.mix))
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {self.fault_rate}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s}")
        unknown = [kind for kind in self.mix if kind not in FAULT_KINDS]
        if not self.mix or unknown:
            raise ValueError(f"mix must be a non-empty selection of {', '.join(FAULT_KINDS)}, got {self.mix}")


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


async def _discard(message: Message) -> None:
    """The ``send`` given to the app on a lost response: its answer goes nowhere."""


class FaultInjector:
    """ASGI middleware injecting latency and faults as configured; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        config: FaultConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.config = config
        self._sleep, self._clock = sleep, clock
        self._rng = random.Random(config.seed)
        self.stats: dict[str, int] = {"requests": 0, "faults": 0, **dict.fromkeys(FAULT_KINDS, 0)}

    def _choose(self, method: str) -> str | None:
        if self.config.fault_rate <= 0 or self._rng.random() >= self.config.fault_rate:
            return None
        kind = self._rng.choice(self.config.mix)
        if kind == "lost_response" and method not in MUTATING_METHODS:
            return "drop"
        return kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.stats["requests"] += 1
        # Decide before any await, so concurrent requests draw in arrival order.
        fault = self._choose(scope["method"])
        answer_at = self._clock() + self.config.latency_ms / 1000
        if self.config.latency_ms > 0:
            await self._sleep(self.config.latency_ms / 2000)  # on the way in
            send = self._held_until(answer_at, send)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.stats[fault] += 1
        self.stats["faults"] += 1
        if fault in ("500", "503", "429"):
            await self._error(send, int(fault))
            return
        if fault == "lost_response":
            await self.app(scope, receive, _discard)
        else:
            await _drain(receive)
        await self._drop(send)

    def _held_until(self, answer_at: float, send: Send) -> Send:
        """``send``, but the answer's first message waits until ``answer_at`` (the way out)."""
        started = False

        async def held(message: Message) -> None:
            nonlocal started
            if not started:
                started = True
                remaining = answer_at - self._clock()
                if remaining > 0:
                    await self._sleep(remaining)
            await send(message)

        return held

    async def _error(self, send: Send, status: int) -> None:
        length = str(len(_ERROR_BODY)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        if status == 429:
            headers.append((b"retry-after", _retry_after(self.config.retry_after_s).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": _ERROR_BODY})

    async def _drop(self, send: Send) -> None:
        # A promised body that never comes: the client cannot mistake this for a complete answer.
        headers = [(b"content-length", b"1024"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        raise ConnectionDropped()


async def _drain(receive: Receive) -> None:
    """Read the request body the app will not read: closing a socket with unread data in it makes
    the kernel answer with a reset, which a client would see instead of the incomplete answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
