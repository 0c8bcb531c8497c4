"""Apply progress in a log (not a terminal): ``[n/N at m:ss]`` on each end line, start lines as
before, and a heartbeat every 10 s naming what still runs, longest first."""

from __future__ import annotations

import asyncio

from reconciler.cli.progress import ApplyProgress, Heartbeat, clock_text, still_running
from reconciler.engine.deciding.changes import Action, Change, Reason
from reconciler.engine.executing.apply import ActionResult, Outcome


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def change(address: str, action: Action = Action.CREATE) -> Change:
    kind, name = address.split(".", 1)
    return Change(
        address=address, kind=kind, name=name, action=action, cause=None, reason="",
        reason_code=Reason.NOT_FOUND,
    )  # fmt: skip


def test_clock_text() -> None:
    assert [clock_text(s) for s in (0, 7.9, 65, 3725)] == ["0:00", "0:07", "1:05", "1:02:05"]


def test_log_lines_count_and_time_every_end() -> None:
    clock, lines = Clock(), list[str]()
    progress = ApplyProgress(lines.append, live=False, clock=clock)
    a, b, c = change("cores.a"), change("webhooks.b"), change("cores.c", Action.DELETE)
    progress.total, progress.started_at = 3, clock.now  # as start() sets them, without a loop
    for one in (a, b, c):
        progress.on_event(one, "start", None)
    clock.now += 2.5
    progress.on_event(b, "end", ActionResult(b.address, b.action, Outcome.DONE, 2.5, "wh-1"))
    clock.now += 70
    progress.on_event(c, "end", ActionResult(c.address, c.action, Outcome.FAILED, 72.5, error="boom"))
    assert lines == [
        "cores.a: creating…",
        "webhooks.b: creating…",
        "cores.c: destroying…",
        "webhooks.b: created in 2.5s [id=wh-1] [1/3 at 0:02]",
        "cores.c: FAILED after 72.5s: boom [2/3 at 1:12]",
    ]


def test_the_heartbeat_names_only_what_runs_long_longest_first() -> None:
    clock, lines = Clock(), list[str]()
    progress = ApplyProgress(lines.append, live=False, clock=clock)
    progress.total, progress.started_at = 6, clock.now
    progress.heartbeat()
    assert lines == [], "nothing runs: no heartbeat"
    for i in range(5):
        progress.on_event(change(f"package_instances.p{i}"), "start", None)
        clock.now += 1
    progress.on_event(change("cores.quick"), "start", None)
    lines.clear()
    clock.now += 9.5  # p0 has run 14.5 s, p4 10.5 s, cores.quick 9.5 s
    progress.heartbeat()
    assert lines == [
        "[0/6 at 0:14] still creating package_instances.p0 (0:14), package_instances.p1 (0:13), "
        "package_instances.p2 (0:12) and 2 more"
    ]


def test_still_running_says_one_of_each() -> None:
    assert still_running({"cores.a": ("updating", 0.0)}, 31.0) == "still updating cores.a (0:31)"


def test_a_heartbeat_beats_until_stopped() -> None:
    lines: list[str] = []

    async def wait() -> None:
        beat = Heartbeat(lines.append, "reading live state", interval=0.01).start()
        await asyncio.sleep(0.055)
        beat.stop()
        seen = len(lines)
        await asyncio.sleep(0.03)
        assert len(lines) == seen, "stopped means stopped"

    asyncio.run(wait())
    assert len(lines) >= 2 and all(
        line.startswith("Still reading live state… 0:00 elapsed") for line in lines
    )


def test_a_heartbeat_counts_the_429s_of_an_api_that_throttles() -> None:
    from reconciler.cli.progress import reading
    from reconciler.providers.stats import CallStats

    calls = {"signaloid": CallStats(requests=9, rate_limited=0), "steamship": CallStats(requests=2)}
    clock, lines = Clock(), list[str]()
    progress = ApplyProgress(lines.append, live=False, clock=clock, calls=lambda: calls)
    progress.total, progress.started_at = 1, clock.now
    progress.on_event(change("cores.a"), "start", None)
    lines.clear()
    clock.now += 10
    progress.heartbeat()
    assert lines == ["[0/1 at 0:10] still creating cores.a (0:10)"]  # no 429: nothing said of it
    calls["signaloid"] = CallStats(requests=12, retries=3, rate_limited=1)
    progress.heartbeat()
    assert lines[-1] == "[0/1 at 0:10] still creating cores.a (0:10); signaloid: 1 answer 429 so far"
    calls["steamship"] = CallStats(requests=4, rate_limited=2)
    words = reading("reading live state", lambda: calls)
    assert words() == (
        "reading live state (signaloid: 1 answer 429, steamship: 2 answers 429 so far, calls wait and retry)"
    )
