"""Which stacks are due: each stack is checked once per its interval (with jitter), failures back
off exponentially (with jitter), and a stack is checked by one task at a time.

:class:`LocalSchedule` keeps this in memory, for one process. ``coordination.PostgresSchedule``
keeps it in PostgreSQL, for several replicas sharing the stacks. Both give the same answers to
the loop (``loop.py``); the rule for the next delay is :func:`next_delay`, written once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["JITTER", "Claim", "LocalSchedule", "Schedule", "next_delay"]

JITTER = 0.1  # a check comes up to 10% early, never late: every interval still sees one
MAX_BACKOFF_S = 3600.0
BACKOFF_CAP_INTERVALS = 32


def next_delay(interval_s: float, failures: int, rng: random.Random) -> float:
    """Seconds from this check's start to the next: the interval less up to ``JITTER`` of it; after
    ``failures`` failures in a row, ``interval x 2^failures`` (capped at an hour, or 32 intervals
    if longer) with "equal jitter" (between half and all of it), so stacks failing together (an
    API down) do not come back together."""
    if failures <= 0:
        return interval_s * rng.uniform(1 - JITTER, 1.0)
    cap = max(interval_s, min(MAX_BACKOFF_S, BACKOFF_CAP_INTERVALS * interval_s))
    delay = min(cap, interval_s * 2.0**failures)
    return delay * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Claim:
    stack: str
    failures: int  # failures in a row before this check


class Schedule(Protocol):
    async def register(self, stacks: Sequence[str]) -> None:
        """The stacks found on disk now: new ones are due at once; the others are not claimed."""
        ...

    async def claim(self, limit: int) -> list[Claim]:
        """Up to ``limit`` due stacks, each now held by this process until ``finish``/``release``."""
        ...

    async def finish(self, stack: str, *, interval_s: float, failed: bool, result: Mapping[str, Any]) -> None:
        """The check is done: record its result, set when it is due next, let go of it."""
        ...

    async def release(self, stack: str) -> None:
        """Let go of a claimed stack without a check (shutting down): due again at once."""
        ...

    async def results(self) -> dict[str, dict[str, Any]]:
        """The latest result of every registered stack that has one (whoever checked it)."""
        ...

    async def ready(self) -> str | None:
        """None when the schedule's store is reachable; else why not."""
        ...

    async def aclose(self) -> None: ...


class LocalSchedule:
    """In memory: one process checks every stack."""

    def __init__(self, *, clock: Any = time.monotonic, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._claimed: dict[str, float] = {}  # stack -> when claimed
        self._results: dict[str, dict[str, Any]] = {}

    async def register(self, stacks: Sequence[str]) -> None:
        known = set(stacks)
        now = self._clock()
        for stack in stacks:
            self._due.setdefault(stack, now)
        for gone in set(self._due) - known:
            self._due.pop(gone, None)
            self._results.pop(gone, None)
            self._failures.pop(gone, None)

    async def claim(self, limit: int) -> list[Claim]:
        now = self._clock()
        due = sorted((at, s) for s, at in self._due.items() if at <= now and s not in self._claimed)
        claims = []
        for _, stack in due[: max(0, limit)]:
            self._claimed[stack] = now
            claims.append(Claim(stack, self._failures.get(stack, 0)))
        return claims

    async def finish(self, stack: str, *, interval_s: float, failed: bool, result: Mapping[str, Any]) -> None:
        started = self._claimed.pop(stack, self._clock())
        failures = self._failures.get(stack, 0) + 1 if failed else 0
        self._failures[stack] = failures
        if stack in self._due:
            self._due[stack] = started + next_delay(interval_s, failures, self._rng)
            self._results[stack] = dict(result)

    async def release(self, stack: str) -> None:
        self._claimed.pop(stack, None)

    async def results(self) -> dict[str, dict[str, Any]]:
        return dict(self._results)

    async def ready(self) -> str | None:
        return None

    async def aclose(self) -> None:
        return None
