"""Clients of one origin share one transport and at most ``limit`` requests in flight; a slot is
held until the body is read, and given back when a request fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest

from reconciler.providers.endpoints import EndpointPool, origin


class Gated(httpx2.AsyncBaseTransport):
    """Answers once ``gate`` opens; counts the requests it is holding at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.holding = self.peak = 0
        self.closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.holding += 1
        self.peak = max(self.peak, self.holding)
        await self.gate.wait()
        self.holding -= 1
        if request.url.path == "/fail":
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(200, json={"ok": request.headers["authorization"]})

    async def aclose(self) -> None:
        self.closed = True


def test_origin_is_what_one_pool_serves() -> None:
    assert origin("https://API.signaloid.io/v1") == origin("https://api.signaloid.io:443/other")
    assert origin("http://127.0.0.1:8787/signaloid") != origin("http://127.0.0.1:8788/signaloid")


def test_two_stacks_on_one_endpoint_share_its_limit_and_keep_their_own_keys() -> None:
    asyncio.run(_two_stacks())


async def _two_stacks() -> None:
    made: list[Gated] = []

    def make(_url: str, _limits: Any) -> Gated:
        made.append(Gated())
        return made[-1]

    pool = EndpointPool(limit=2, make_transport=make)
    clients = [
        httpx2.AsyncClient(
            base_url=f"http://api.test/{n}",
            transport=pool.transport(f"http://api.test/{n}"),
            headers={"Authorization": f"key-{n}"},
        )
        for n in ("a", "b")
    ]
    calls = [asyncio.create_task(clients[i % 2].get("/cores")) for i in range(6)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(made) == 1 and made[0].holding == 2  # two in flight, four waiting for a slot
    made[0].gate.set()
    answers = await asyncio.gather(*calls)
    assert made[0].peak == 2 and pool.peak_in_flight("http://api.test/x") == 2
    assert sorted(r.json()["ok"] for r in answers) == ["key-a"] * 3 + ["key-b"] * 3
    for client in clients:
        await client.aclose()
    assert not made[0].closed  # a stack closing its client leaves the shared pool open
    await pool.aclose()
    assert made[0].closed


def test_a_failed_request_gives_its_slot_back() -> None:
    asyncio.run(_failed_request())


async def _failed_request() -> None:
    inner = Gated()
    inner.gate.set()
    pool = EndpointPool(limit=1, make_transport=lambda _url, _limits: inner)
    async with httpx2.AsyncClient(
        base_url="http://api.test", transport=pool.transport("http://api.test")
    ) as c:
        for _ in range(3):
            with pytest.raises(httpx2.ConnectError):
                await c.get("/fail", headers={"Authorization": "k"})
        assert (await c.get("/ok", headers={"Authorization": "k"})).status_code == 200
    await pool.aclose()


def test_read_once_is_one_read_per_key_and_a_failed_shared_read_is_read_again() -> None:
    asyncio.run(_read_once())


async def _read_once() -> None:
    pool = EndpointPool()
    gate, reads = asyncio.Event(), []

    def reader(name: str, fail: bool = False) -> Callable[[], Awaitable[str]]:
        async def fetch() -> str:
            reads.append(name)
            await gate.wait()
            if fail:
                raise httpx2.ConnectError("refused")
            return f"answer of {name}"

        return fetch

    account_a, account_b = ("http://api.test", "digest-a"), ("http://api.test", "digest-b")
    same = [asyncio.create_task(pool.read_once(account_a, reader(f"a{i}"))) for i in range(3)]
    other = asyncio.create_task(pool.read_once(account_b, reader("b")))
    gate.set()
    assert await asyncio.gather(*same) == ["answer of a0"] * 3  # one read for the three stacks
    assert await other == "answer of b" and sorted(reads) == ["a0", "b"]  # never another account's

    gate.clear()
    reads.clear()
    owner = asyncio.create_task(pool.read_once(("k",), reader("owner", fail=True)))
    waiter = asyncio.create_task(pool.read_once(("k",), reader("waiter")))
    gate.set()
    with pytest.raises(httpx2.ConnectError):
        await owner
    assert await waiter == "answer of waiter"  # the owner's failure is not handed on
    assert await pool.read_once(("k",), reader("later")) == "answer of later"  # nor remembered


def test_forget_reads_starts_a_new_round_of_shared_reads() -> None:
    asyncio.run(_forget_reads())


async def _forget_reads() -> None:
    pool = EndpointPool()
    reads: list[int] = []

    async def fetch() -> int:
        reads.append(len(reads))
        return len(reads)

    assert await pool.read_once(("k",), fetch) == 1
    assert await pool.read_once(("k",), fetch) == 1  # shared within a round
    pool.forget_reads()  # watch: every few seconds, so a long-running process never reads stale
    assert await pool.read_once(("k",), fetch) == 2
