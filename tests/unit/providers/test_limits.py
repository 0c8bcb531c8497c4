"""The body cap of one attempt (``send_within``), in-process: a plain body declared within the
limit is read in one go; a compressed or undeclared body is counted as decoded, so a small
gzip "bomb" that inflates past the limit is still cut."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx2
import pytest

from reconciler.providers.limits import MIB, Limits, ResponseTooLarge, send_within

LIMITS = Limits(1 * MIB, 5.0)


def send(handler: httpx2.MockTransport) -> httpx2.Response:
    async def call() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url="http://api.test", transport=handler) as client:
            return await send_within(client, "GET", "/cores", LIMITS, 5.0, "signaloid GET /cores")

    return asyncio.run(call())


def test_a_declared_body_within_the_limit_is_read_whole() -> None:
    body = b'{"items": []}' * 1000
    response = send(httpx2.MockTransport(lambda request: httpx2.Response(200, content=body)))
    assert response.content == body and response.is_closed
    assert response.headers["content-length"] == str(len(body))


def test_a_small_gzip_body_that_inflates_past_the_limit_is_cut() -> None:
    bomb = gzip.compress(b"0" * (4 * MIB))
    assert len(bomb) < 64 * 1024

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=bomb, headers={"content-encoding": "gzip"})

    with pytest.raises(ResponseTooLarge, match="larger than the 1 MiB limit"):
        send(httpx2.MockTransport(handler))


def test_a_gzip_body_within_the_limit_is_handed_on_decoded() -> None:
    plain = b'{"ok": true}' * 100

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=gzip.compress(plain), headers={"content-encoding": "gzip"})

    response = send(httpx2.MockTransport(handler))
    assert response.content == plain and "content-encoding" not in response.headers


def test_a_chunked_body_over_the_limit_is_cut() -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: a stream of unknown length
        for _ in range(3):
            yield b"x" * (MIB // 2)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=chunks())

    with pytest.raises(ResponseTooLarge, match="stopped reading after"):
        send(httpx2.MockTransport(handler))
