"""Adaptive concurrency per API endpoint: how many calls may be in flight to it at once.

A fixed ``--parallelism`` is either too low (most of a fast API's speed unused) or wrong against
an API that throttles. Each endpoint (API + base URL) gets one :class:`EndpointLimiter`, shared
by every client of that endpoint in the process (apply, refresh, and stacks of a fleet that talk
to the same endpoint), after the limiters of Netflix's concurrency-limits (Vegas, AIMD):

- **Slow start.** From ``initial`` calls in flight, the limit grows by one per call that succeeds
  (it doubles every round trip) while the smoothed round-trip time stays within ``TOLERANCE`` of
  the lowest seen, and nothing is throttled. It ends at the first sign of a queue: the limit drops
  to what kept the latency flat (Little's law: ``limit x min_rtt / rtt``).
- **Then a gradient.** Each round trip the limit moves to ``limit x gradient + sqrt(limit)``, where
  ``gradient = TOLERANCE x min_rtt / rtt`` held between 0.5 and 1: it probes upwards while the
  latency is flat, and shrinks in proportion as calls start to queue.
- **A floor**, after BBR: ``GAIN x`` the best completion rate of the last ``RATE_ROUNDS`` rounds
  (of two round trips) ``x`` the lowest RTT (the bandwidth-delay product): a host busy with other
  work slows every call without any queue of ours, and the gradient alone would then give up the
  rate reached.
- **429 (throttled).** ``Retry-After`` pauses this endpoint's whole queue (no call starts until it
  has passed), and the limit falls to what the endpoint was seen to sustain: the calls that
  succeeded in the last second x the round-trip time, plus one (at most half the limit). An API
  that throttles by rate gives no latency warning before the next 429, so for ``RECOVERY_S``
  after one the limit grows by one per ``RECOVERY_STEP_S`` (2 s), not per round trip.
- **503 (overloaded).** The limit falls by a quarter (a ``Retry-After`` pauses the queue too).

A limit is cut at most once per burst: a rejection of a call sent before the last cut says
nothing about the new limit. The limit only grows while it is being used (a refresh with two
calls in flight does not inflate it). The upper bound is ``maximum`` (the HTTP connection pool's
size); ``--parallelism`` bounds the actions of an apply above it.

Clock and sleep are injectable: the unit tests drive all of this without waiting.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from reconciler.providers.loop_local import loop_local

__all__ = ["INITIAL_LIMIT", "MAX_LIMIT", "EndpointLimiter", "Permit", "Signal", "limiter_for"]

INITIAL_LIMIT = 16  # each doubling costs a round trip: 8 (the old --parallelism) cost ~5% of a 1 s apply
MAX_LIMIT = 64  # the connection pool's size (providers/connect.py)
# Latency "stays flat" while the smoothed RTT is within min RTT x this. A client's own CPU (and a
# host shared with other work) adds to the RTT it sees well before the API slows down: measured at
# 25 ms, the best fixed concurrency ran at 1.6-2.9x the lowest RTT, and 1.5 held the limit too low.
TOLERANCE = 2.0
RECOVERY_S = 30.0  # after a 429, grow slowly (one per RECOVERY_STEP_S) for this long
RECOVERY_STEP_S = 2.0
GAIN = 1.5  # the floor keeps this many times the bandwidth-delay product in flight
RATE_ROUNDS = 5  # the best rate of this many rounds (of two round trips) makes the floor
MIN_RTT_WINDOW = 500  # samples: the lowest RTT is forgotten and re-learned this often


class Signal(enum.Enum):
    """How a call ended, as far as the limiter cares."""

    OK = "ok"  # an answer (any status but 429/503): the RTT is a latency sample
    THROTTLED = "throttled"  # 429
    OVERLOADED = "overloaded"  # 503
    FAILED = "failed"  # no answer (connection error, timeout): no latency sample


class Permit:
    """One call in flight; ``release`` exactly once, with how it ended."""

    __slots__ = ("_limiter", "_released", "busy", "started")

    def __init__(self, limiter: EndpointLimiter, started: float) -> None:
        self._limiter, self.started, self._released = limiter, started, False
        # Was the limit in use when this call started (at least half of it taken)?
        self.busy = limiter.inflight * 2 >= limiter.slots

    def release(self, signal: Signal, retry_after: float | None = None) -> None:
        if not self._released:
            self._released = True
            self._limiter._release(self, signal, retry_after)


class EndpointLimiter:
    """The adaptive limit of one endpoint, and the FIFO queue of calls waiting for it."""

    def __init__(
        self,
        *,
        initial: int = INITIAL_LIMIT,
        minimum: int = 1,
        maximum: int = MAX_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.limit = float(min(max(initial, minimum), maximum))
        self.clock, self.sleep = clock, sleep
        self.inflight = 0
        self.paused_until = -math.inf
        self.slow_start = True
        self.min_rtt: float | None = None
        self.srtt: float | None = None
        self.peak_limit = self.limit
        self.throttled = self.overloaded = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._resume: asyncio.Task[None] | None = None
        self._window_min = math.inf
        self._samples = 0
        self._last_cut = -math.inf
        self._throttled_at = -math.inf
        self._last_growth = -math.inf
        self._succeeded: deque[float] = deque()  # finish times of the last second's successes
        self._rates: deque[float] = deque(maxlen=RATE_ROUNDS)  # completions per second, per round
        self._round_start = clock()
        self._round_done = 0
        self._rejected_at = -math.inf
        self.floor = 0.0  # see _count_round

    @property
    def slots(self) -> int:
        """The limit as a number of calls (it moves in fractions between round trips)."""
        return max(self.minimum, min(self.maximum, int(self.limit + 0.5)))

    def paused(self) -> bool:
        return self.clock() < self.paused_until

    async def acquire(self) -> Permit:
        """Wait for a slot (in arrival order, and never during a pause), then hold it."""
        if not self._waiters and self.inflight < self.slots and not self.paused():
            self.inflight += 1
            return Permit(self, self.clock())
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.inflight -= 1  # the slot was handed over as we were cancelled: give it back
                self._dispatch()
            else:
                self._waiters.remove(waiter)
            raise
        return Permit(self, self.clock())

    def pause(self, seconds: float) -> None:
        """No call to this endpoint starts for ``seconds`` (the server's ``Retry-After``)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        self._dispatch()

    # --- the queue --------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Hand free slots to the oldest waiters; during a pause, wake up when it ends."""
        while self._waiters and self.inflight < self.slots:
            if self.paused():
                if self._resume is None or self._resume.done():
                    self._resume = asyncio.get_running_loop().create_task(self._resume_after_pause())
                return
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            self.inflight += 1
            waiter.set_result(None)

    async def _resume_after_pause(self) -> None:
        while (remaining := self.paused_until - self.clock()) > 0:
            await self.sleep(remaining)
        self._resume = None
        self._dispatch()

    # --- the limit --------------------------------------------------------------------------
    def _release(self, permit: Permit, signal: Signal, retry_after: float | None) -> None:
        self.inflight -= 1
        now = self.clock()
        if signal is Signal.OK:
            busy = permit.busy or (self.inflight + 1) * 2 >= self.slots  # at its start or its end
            self._on_success(now - permit.started, now, in_use=busy)
        elif signal in (Signal.THROTTLED, Signal.OVERLOADED):
            if retry_after is not None and retry_after > 0:
                self.pause(retry_after)
            if permit.started >= self._last_cut:  # else: sent before the last cut, already counted
                self._cut(now, throttled=signal is Signal.THROTTLED)
        self._dispatch()

    def _on_success(self, rtt: float, now: float, *, in_use: bool) -> None:
        self._succeeded.append(now)
        while self._succeeded[0] < now - 1.0:
            self._succeeded.popleft()
        self._samples += 1
        self._window_min = min(self._window_min, rtt)
        if self.min_rtt is None or rtt < self.min_rtt:
            # A new lowest: the samples before it held set-up costs (new connections), not a queue.
            self.min_rtt = self.srtt = rtt
        if self._samples % MIN_RTT_WINDOW == 0:  # the base latency may have risen: re-learn it
            self.min_rtt, self._window_min = self._window_min, math.inf
        # Smoothed over about one round trip's worth of samples: a single slow answer (a GC pause,
        # a busy host) does not cut the limit; a queue that lasts a round trip does.
        weight = 1 / max(2.0, self.limit)
        self.srtt = rtt if self.srtt is None else self.srtt + weight * (rtt - self.srtt)
        if not in_use:
            return
        self._count_round(now)
        # Above 1 the latency is flat, below 1 calls are queueing (at the API, or for this process's CPU).
        gradient = TOLERANCE * max(self.min_rtt, 1e-6) / max(self.srtt, 1e-6)
        if self.slow_start:
            if gradient >= 1:
                self._set(self.limit + 1)
            else:  # a queue is building: keep what kept the latency flat (at most halve, as below)
                self.slow_start = False
                self._last_cut = now
                self._set(self.limit * max(0.5, gradient))
            return
        if gradient >= 1 and now - self._throttled_at < RECOVERY_S:
            if now - self._last_growth >= RECOVERY_STEP_S:
                self._last_growth = now
                self._set(self.limit + 1)
            return
        # Gradient: move towards limit x gradient + sqrt(limit) (the probe, and the queue allowed: a
        # client's own CPU adds to the RTT it sees well before the API slows down), one full step
        # per round trip. It settles where the RTT is about TOLERANCE / (1 - 1/sqrt(limit)) x min.
        target = self.limit * max(0.5, min(1.0, gradient)) + math.sqrt(self.limit)
        self._set(max(self.floor, self.limit + (target - self.limit) / self.limit))

    def _count_round(self, now: float) -> None:
        """Completions per round (two round trips); at each round's end, the floor of the limit (BBR's
        bandwidth-delay product): GAIN x the best rate of the last rounds x the lowest RTT.

        A host busy with other work raises every RTT without any queue of ours, and the gradient
        alone would then shrink the limit and with it the rate; the floor keeps enough calls in
        flight to carry the rate already reached. Not after a 429/503: the API said no."""
        self._round_done += 1
        elapsed = now - self._round_start
        if elapsed < max(2 * (self.srtt or 0.0), 1e-3):  # two RTTs: answers come in bursts
            return
        self._rates.append(self._round_done / elapsed)
        self._round_start, self._round_done = now, 0
        if self.slow_start or now - self._rejected_at < RECOVERY_S or self.min_rtt is None:
            self.floor = 0.0
            return
        self.floor = GAIN * max(self._rates) * self.min_rtt
        if self.limit < self.floor:
            self._set(self.floor)

    def _cut(self, now: float, *, throttled: bool) -> None:
        self.slow_start = False
        self.floor = 0.0
        self._last_cut = self._rejected_at = now
        if throttled:
            self.throttled += 1
            self._throttled_at = self._last_growth = now
            while self._succeeded and self._succeeded[0] < now - 1.0:
                self._succeeded.popleft()
            # Little's law: the calls in flight that carried the rate the API allowed, plus one so that
            # its bucket is drained, not left filling up unused (a 429 is cheap: its Retry-After lets
            # the bucket refill while the queue waits).
            sustained = len(self._succeeded) * (self.srtt or 0.0) + 1
            self._set(min(self.limit / 2, sustained))
        else:
            self.overloaded += 1
            self._set(self.limit * 0.75)

    def _set(self, limit: float) -> None:
        self.limit = min(float(self.maximum), max(float(self.minimum), limit))
        self.peak_limit = max(self.peak_limit, self.limit)


def limiter_for(
    endpoint: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> EndpointLimiter:
    """The one limiter of ``endpoint`` (e.g. ``"signaloid https://api.signaloid.io"``) in this
    event loop: every client of one endpoint shares it, so their calls together adapt to the API.
    The first caller's clock and sleep are the limiter's."""
    limiters = loop_local().limiters
    limiter = limiters.get(endpoint)
    if limiter is None:
        limiter = limiters[endpoint] = EndpointLimiter(clock=clock, sleep=sleep)
    return limiter
