"""The adaptive limit of one endpoint, driven by a virtual clock (no real waiting)."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Coroutine
from typing import Any

import httpx2
import pytest

from reconciler.providers.concurrency import EndpointLimiter, Permit, Signal, limiter_for
from reconciler.providers.http import ApiClient
from reconciler.providers.settings import HttpSettings


class VirtualTime:
    """A clock that moves only when told to; ``sleep`` waits until it has moved far enough."""

    def __init__(self) -> None:
        self.now = 100.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, id(future), future))
        await future

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            heapq.heappop(self._sleepers)[2].set_result(None)
        for _ in range(5):  # let woken tasks run
            await asyncio.sleep(0)


def run(test: Callable[[VirtualTime], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(test(VirtualTime()))


def limiter(time: VirtualTime, initial: int = 4, maximum: int = 64) -> EndpointLimiter:
    return EndpointLimiter(initial=initial, maximum=maximum, clock=time.clock, sleep=time.sleep)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def round_trip(lim: EndpointLimiter, time: VirtualTime, rtt: float, calls: int) -> None:
    """``calls`` calls that start together and all answer OK after ``rtt``."""
    permits = [await lim.acquire() for _ in range(calls)]
    await time.advance(rtt)
    for permit in permits:
        permit.release(Signal.OK)


def test_a_full_limit_makes_later_calls_wait_in_arrival_order() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=2)
        first, second = await lim.acquire(), await lim.acquire()
        order: list[str] = []

        async def call(name: str) -> Permit:
            permit = await lim.acquire()
            order.append(name)
            return permit

        third = asyncio.ensure_future(call("third"))
        fourth = asyncio.ensure_future(call("fourth"))
        await settle()
        assert order == [] and lim.inflight == 2
        first.release(Signal.FAILED)  # no answer: frees the slot, says nothing about latency
        await settle()
        assert order == ["third"]
        second.release(Signal.FAILED)
        await settle()
        assert order == ["third", "fourth"] and lim.inflight == 2
        (await third).release(Signal.FAILED)
        (await fourth).release(Signal.FAILED)
        assert lim.inflight == 0 and lim.limit == 2

    run(body)


def test_a_cancelled_waiter_leaves_no_slot_taken() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=1)
        held = await lim.acquire()
        waiting = asyncio.ensure_future(lim.acquire())
        await settle()
        waiting.cancel()
        await settle()
        held.release(Signal.FAILED)
        assert lim.inflight == 0
        (await lim.acquire()).release(Signal.FAILED)
        assert lim.inflight == 0

    run(body)


def test_slow_start_doubles_each_round_trip_while_latency_is_flat() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=4)
        await round_trip(lim, time, 0.025, 4)
        assert lim.limit == 8
        await round_trip(lim, time, 0.025, 8)
        assert lim.limit == 16
        assert lim.slow_start

    run(body)


def test_the_limit_does_not_grow_while_it_is_not_used() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=8)
        for _ in range(20):  # one call at a time: a sequential pager, say
            await round_trip(lim, time, 0.025, 1)
        assert lim.limit == 8

    run(body)


def test_rising_latency_ends_slow_start_and_shrinks_the_limit() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=16)
        await round_trip(lim, time, 0.025, 16)
        grown = lim.limit
        for _ in range(20):  # the endpoint is slower now: 4x the latency (the floor holds a few rounds)
            await round_trip(lim, time, 0.100, lim.slots)
        assert not lim.slow_start
        assert lim.limit < grown / 2

    run(body)


def test_after_slow_start_the_limit_probes_upwards_while_latency_stays_flat() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=16, maximum=1000)
        await round_trip(lim, time, 0.025, 16)
        await round_trip(lim, time, 0.1, 16)  # ends slow start
        assert not lim.slow_start
        for _ in range(4):  # let the smoothed RTT come back down
            await round_trip(lim, time, 0.025, lim.slots)
        for _ in range(3):  # latency flat: up by at least one per round trip
            before = lim.limit
            await round_trip(lim, time, 0.025, lim.slots)
            assert lim.limit >= before + 1

    run(body)


def test_a_floor_keeps_the_rate_reached_through_a_few_slow_round_trips() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=16, maximum=64)
        await round_trip(lim, time, 0.025, 16)
        await round_trip(lim, time, 0.1, lim.slots)  # ends slow start
        for _ in range(6):
            await round_trip(lim, time, 0.025, lim.slots)
        assert lim.limit == 64
        for _ in range(5):  # a busy host: every answer 4x slower, with no queue of ours behind it
            await round_trip(lim, time, 0.1, lim.slots)
        assert lim.limit == 64  # the floor: the gradient alone would have halved it

    run(body)


def test_a_429_pauses_the_whole_queue_for_retry_after() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=2)
        throttled, other = await lim.acquire(), await lim.acquire()
        started: list[float] = []

        async def call() -> None:
            permit = await lim.acquire()
            started.append(time.now)
            permit.release(Signal.OK)

        waiting = [asyncio.ensure_future(call()) for _ in range(3)]
        await settle()
        throttled.release(Signal.THROTTLED, retry_after=2.0)
        other.release(Signal.OK)  # a free slot, but the queue is paused
        await settle()
        assert started == [] and lim.paused()
        await time.advance(1.5)
        assert started == []
        await time.advance(0.5)
        await asyncio.gather(*waiting)
        assert started == [102.0, 102.0, 102.0]
        assert not lim.paused()

    run(body)


def test_a_429_cuts_the_limit_to_what_the_endpoint_sustained_once_per_burst() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=32)
        for _ in range(4):  # 32 calls every 25 ms (1,280/s) for 0.1 s
            await round_trip(lim, time, 0.025, 32)
        burst = [await lim.acquire() for _ in range(lim.slots)]  # all sent before the first 429
        await time.advance(0.025)
        burst[0].release(Signal.THROTTLED, retry_after=1.0)
        cut = lim.limit
        # 128 successes in the last second x 25 ms = 3.2 calls: what the API sustained, + 1; not half of 36.
        assert cut == pytest.approx(128 * 0.025 + 1)
        for permit in burst[1:]:  # rejected too, but sent before the cut: no further cuts
            permit.release(Signal.THROTTLED, retry_after=1.0)
        assert lim.limit == cut and lim.throttled == 1

    run(body)


def test_after_a_429_the_limit_grows_by_one_per_two_seconds_not_per_round_trip() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=4)
        (await lim.acquire()).release(Signal.THROTTLED, retry_after=1.0)
        await time.advance(1.0)
        start = lim.limit
        for _ in range(80):  # two seconds of round trips at the full limit, latency flat
            await round_trip(lim, time, 0.025, lim.slots)
        assert start < lim.limit <= start + 1

    run(body)


def test_a_503_cuts_the_limit_by_a_quarter() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=20)
        permits = [await lim.acquire() for _ in range(20)]
        await time.advance(0.02)
        permits[0].release(Signal.OVERLOADED)
        assert lim.limit == 15 and not lim.paused() and lim.overloaded == 1
        for permit in permits[1:]:
            permit.release(Signal.OVERLOADED)
        assert lim.limit == 15

    run(body)


def test_the_limit_stays_between_its_bounds() -> None:
    async def body(time: VirtualTime) -> None:
        lim = limiter(time, initial=6, maximum=8)
        for _ in range(5):
            await round_trip(lim, time, 0.01, lim.slots)
        assert lim.limit == 8
        for _ in range(10):
            (await lim.acquire()).release(Signal.THROTTLED)
            await time.advance(0.01)
        assert lim.slots == 1

    run(body)


def test_one_limiter_per_endpoint_and_event_loop() -> None:
    async def body() -> tuple[EndpointLimiter, ...]:
        a = limiter_for("signaloid https://api.signaloid.io")
        assert limiter_for("signaloid https://api.signaloid.io") is a
        b = limiter_for("steamship https://api.steamship.com/api/v1/")
        assert b is not a
        return a, b

    first = asyncio.run(body())
    second = asyncio.run(body())
    assert first[0] is not second[0]  # a limiter's futures belong to its loop


def test_clients_of_one_endpoint_share_its_limiter_and_a_429_pauses_both() -> None:
    async def body(time: VirtualTime) -> None:
        sent: list[tuple[str, float]] = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            sent.append((request.url.path, time.now))
            if request.url.path == "/limited" and len(sent) == 1:
                return httpx2.Response(429, json={"message": "slow down"}, headers={"Retry-After": "3"})
            return httpx2.Response(200, json={})

        def client(**settings: Any) -> ApiClient:
            http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler), base_url="https://api.test")
            return ApiClient("signaloid", http, HttpSettings(**settings), sleep=time.sleep, clock=time.clock)

        apply_client, refresh_client = client(), client()
        assert apply_client.limiter is refresh_client.limiter is not None
        assert client(adaptive_concurrency=False).limiter is None
        first = asyncio.ensure_future(apply_client.request("GET", "/limited"))
        await settle()
        second = asyncio.ensure_future(refresh_client.request("GET", "/other"))
        await settle()
        assert [p for p, _ in sent] == ["/limited"]  # the 429 came back first: /other waits
        await time.advance(2.9)
        assert len(sent) == 1
        await time.advance(0.1)
        await asyncio.gather(first, second)
        assert sorted(sent) == [("/limited", 100.0), ("/limited", 103.0), ("/other", 103.0)]

    run(body)
