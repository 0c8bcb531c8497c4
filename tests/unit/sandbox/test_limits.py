"""The sandbox's API limits: a token bucket (429 + Retry-After) and a cap on requests in progress (503)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from reconciler.errors import ReconcilerError
from reconciler.sandbox.limits import ApiLimits, LimitConfig, from_environ


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """An ASGI app that answers 200 and counts the requests that reached it; ``gate`` holds them."""

    def __init__(self) -> None:
        self.seen = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen += 1
        if self.gate is not None:
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def client(app: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sandbox")


def test_over_the_rate_a_request_gets_429_with_retry_after_in_whole_seconds() -> None:
    async def body() -> None:
        clock, inner = Clock(), Recorder()
        limits = ApiLimits(inner, LimitConfig(rate_limit=4), clock=clock)
        async with client(limits) as http:
            statuses = [(await http.get("/cores")).status_code for _ in range(4)]  # the burst: 1 s worth
            assert statuses == [200] * 4
            refused = await http.get("/cores")
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"  # 0.25 s until a token, rounded up
            assert refused.json() == {"message": "rate limit exceeded: 4 requests per second"}
            assert inner.seen == 4  # a refused request never reaches the API
            clock.now += 0.25  # one token back
            assert (await http.get("/cores")).status_code == 200
            assert (await http.get("/cores")).status_code == 429
        assert limits.stats == {"requests": 7, "429": 2, "503": 0}

    asyncio.run(body())


def test_retry_after_covers_the_wait_for_a_token_at_a_slow_rate() -> None:
    async def body() -> None:
        limits = ApiLimits(Recorder(), LimitConfig(rate_limit=0.2), clock=Clock())
        async with client(limits) as http:
            assert (await http.get("/x")).status_code == 200
            assert (await http.get("/x")).headers["retry-after"] == "5"

    asyncio.run(body())


def test_over_max_inflight_a_request_gets_503_and_costs_no_token() -> None:
    async def body() -> None:
        inner = Recorder()
        inner.gate = asyncio.Event()
        limits = ApiLimits(inner, LimitConfig(rate_limit=3, max_inflight=2), clock=Clock())
        async with client(limits) as http:
            held = [asyncio.ensure_future(http.get("/slow")) for _ in range(2)]
            while inner.seen < 2:
                await asyncio.sleep(0)
            refused = await http.get("/slow")
            assert refused.status_code == 503
            assert "retry-after" not in refused.headers
            assert refused.json() == {"message": "too many requests in progress (at most 2)"}
            inner.gate.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            assert (await http.get("/slow")).status_code == 200  # the third token was not spent on the 503
            assert (await http.get("/slow")).status_code == 429
        assert limits.inflight == 0

    asyncio.run(body())


def test_limits_from_the_environment_for_the_in_process_sandbox() -> None:
    assert not from_environ({})
    config = from_environ({"RECONCILER_SANDBOX_RATE_LIMIT": "2.5", "RECONCILER_SANDBOX_MAX_INFLIGHT": "8"})
    assert config == LimitConfig(rate_limit=2.5, max_inflight=8)
    with pytest.raises(ReconcilerError, match=r"\$RECONCILER_SANDBOX_RATE_LIMIT: expected a number"):
        from_environ({"RECONCILER_SANDBOX_RATE_LIMIT": "fast"})
    with pytest.raises(ReconcilerError, match=r"MAX_INFLIGHT: expected a whole number >= 1, got '0'"):
        from_environ({"RECONCILER_SANDBOX_MAX_INFLIGHT": "0"})
    with pytest.raises(ReconcilerError, match=r"got '1\.5'"):
        from_environ({"RECONCILER_SANDBOX_MAX_INFLIGHT": "1.5"})
