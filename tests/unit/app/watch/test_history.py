"""Events on transitions only, contested resources from the history, backoff with jitter."""

from __future__ import annotations

import asyncio
import random

from reconciler.app.watch.history import Event, Outcome, contested_addresses, transitions
from reconciler.app.watch.schedule import JITTER, LocalSchedule, next_delay


def events(previous: str | None, outcome: Outcome) -> list[str]:
    return [e.event for e in transitions(previous, outcome, at=0.0, replica="r")]


def test_an_unchanged_status_adds_no_event() -> None:
    for status in ("in_sync", "drifted", "pending", "errored"):
        assert events(status, Outcome(status=status)) == []
    assert events(None, Outcome(status="in_sync")) == []


def test_each_transition_is_one_event() -> None:
    assert events("in_sync", Outcome(status="drifted", pending_addresses=("cores.a",))) == ["drifted"]
    assert events("drifted", Outcome(status="in_sync", healed=("cores.a",))) == ["healed"]
    assert events("drifted", Outcome(status="in_sync")) == ["in_sync"]  # someone put it back
    assert events("in_sync", Outcome(status="errored", error="bad YAML")) == ["errored"]
    assert events("errored", Outcome(status="drifted")) == ["recovered", "drifted"]
    assert events("drifted", Outcome(status="drifted", apply_error="HTTP 500")) == ["apply_failed"]
    assert events("drifted", Outcome(status="drifted", contested=("cores.a",))) == ["contested"]


def test_a_resource_healed_limit_times_within_the_window_is_contested_until_back_in_sync() -> None:
    healed = [Event(float(t), "healed", "in_sync", addresses=("cores.a",)) for t in (100, 200, 300)]
    assert contested_addresses(healed[:2], now=300, window_s=600, limit=3) == set()
    assert contested_addresses(healed, now=300, window_s=600, limit=3) == {"cores.a"}
    assert contested_addresses(healed, now=800, window_s=600, limit=3) == set()  # the window passed
    marked = [*healed, Event(301.0, "contested", "drifted", addresses=("cores.a",))]
    assert contested_addresses(marked, now=5000, window_s=600, limit=3) == {"cores.a"}  # stays given up
    back = [*marked, Event(400.0, "uncontested", "in_sync", addresses=("cores.a",))]
    assert contested_addresses(back, now=400, window_s=600, limit=3) == set()  # earlier heals no longer count


def test_the_next_check_comes_early_by_at_most_the_jitter_and_failures_back_off() -> None:
    rng = random.Random(7)
    plain = [next_delay(60, 0, rng) for _ in range(200)]
    assert all((1 - JITTER) * 60 <= d <= 60 for d in plain) and len(set(plain)) > 100
    backed = [[next_delay(60, n, rng) for _ in range(200)] for n in (1, 2, 3)]
    for n, delays in enumerate(backed, start=1):
        assert all(60 * 2**n / 2 <= d <= 60 * 2**n for d in delays)
    assert max(next_delay(60, 30, rng) for _ in range(50)) <= 3600  # capped at an hour
    assert next_delay(1, 30, rng) <= 32  # or 32 intervals, when shorter


def test_the_local_schedule_claims_each_due_stack_once() -> None:
    asyncio.run(_claims_each_due_stack_once())


async def _claims_each_due_stack_once() -> None:
    now = [0.0]
    schedule = LocalSchedule(clock=lambda: now[0], rng=random.Random(1))
    await schedule.register(["a", "b", "c"])
    first = await schedule.claim(2)
    assert [c.stack for c in first] == ["a", "b"]
    assert [c.stack for c in await schedule.claim(5)] == ["c"]
    assert await schedule.claim(5) == []  # all held
    await schedule.finish("a", interval_s=10, failed=True, result={"name": "a"})
    now[0] = 9.0
    assert await schedule.claim(5) == []  # a backs off: 10-20 s after its claim
    now[0] = 20.0
    [again] = await schedule.claim(5)
    assert again.stack == "a" and again.failures == 1
