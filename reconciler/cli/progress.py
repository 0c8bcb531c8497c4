"""Progress of an apply or destroy a person can follow: an ``[n/N]`` counter, the time since the
first action, and a heartbeat every 10 s naming what is still running (a Steamship instance
initialising, a Scramjet instance watched for its health check, calls paused by a 429).

Two renderings of the same events:

- **log** (not a terminal, or ``--verbose``): one line per start and end, in completion order,
  the end lines carrying ``[n/N at m:ss]``; a heartbeat line every 10 s while anything runs. The
  line formats are stable, for CI logs and the scripts that read them.
- **live** (a terminal): one bar per kind and one for the total, redrawn in place by ``rich``, with
  a status line of what runs longest; failures are printed above the bars as they happen.
  ``rich`` is imported only here, only for a terminal, so no other command pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.common.words import plural
from reconciler.common.words import seconds as seconds_text
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from reconciler.engine.deciding.changes import Change
    from reconciler.engine.executing.apply import ActionResult

__all__ = [
    "HEARTBEAT_S",
    "ApplyProgress",
    "Heartbeat",
    "LockHeartbeat",
    "clock_text",
    "heartbeat_interval",
    "reading",
    "still_running",
    "throttled",
    "wants_live",
]

HEARTBEAT_S = 10.0
HEARTBEAT_VAR = "RECONCILER_HEARTBEAT_INTERVAL"
_DONE = "done"  # engine.apply.Outcome.DONE, a StrEnum: this module imports no engine (plan uses it)
_NAMED_IN_HEARTBEAT = 3  # the longest-running actions a heartbeat names; the rest are counted

# The verb of each action, while it runs and once done (keyed by the action's value, so that an
# action added to the plan later is still printed, with its own name).
VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "delete": ("destroying", "destroyed"),
    "adopt": ("adopting", "adopted"),
    "move": ("moving in state", "moved in state"),
    "state-only": ("recording in state", "recorded in state"),
}


def verbs(change: Change) -> tuple[str, str]:
    value = str(change.action.value)
    return VERBS.get(value, (f"{value}…", value))


def clock_text(seconds: float) -> str:
    """``0:07``, ``2:05``, ``1:02:05``: elapsed time at a glance, as a stopwatch shows it."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def still_running(running: dict[str, tuple[str, float]], now: float) -> str:
    """``still creating package_instances.a (0:32), cores.b (0:31) and 2 more``, longest first."""
    longest = sorted(running.items(), key=lambda item: item[1][1])
    named = [f"{address} ({clock_text(now - started)})" for address, (_doing, started) in longest]
    doing = Counter(doing for doing, _ in running.values()).most_common(1)[0][0]
    shown = named[:_NAMED_IN_HEARTBEAT]
    more = len(named) - len(shown)
    return f"still {doing} " + ", ".join(shown) + (f" and {more} more" if more else "")


class ApplyProgress:
    """Receives the applier's events (``on_event``); ``start`` when the first action is about to
    run, ``stop`` when the apply is over (the heartbeat ends, the live display stays on screen)."""

    def __init__(
        self,
        echo: Callable[[str], None],
        *,
        live: bool,
        colour: bool = True,
        heartbeat_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
        calls: Callable[[], Mapping[str, Any]] = dict,
    ) -> None:
        self.echo = echo
        self.calls = calls  # the session's calls per API: a heartbeat names the 429s
        self.live = live
        self.colour = colour
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.total = 0
        self.finished = 0
        self.started_at = clock()
        self.last_end = self.started_at
        self.running: dict[str, tuple[str, float]] = {}  # address -> (doing, since)
        self._ticker: asyncio.Task[None] | None = None
        self._bars: _LiveBars | None = None

    def start(self, changes: Sequence[Change]) -> None:
        self.total = len(changes)
        self.started_at = self.clock()
        if self.live:
            self._bars = _LiveBars(changes, colour=self.colour)
        interval = 1.0 if self.live else self.heartbeat_s
        self._ticker = asyncio.get_running_loop().create_task(self._tick(interval))

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._bars is not None:
            self._bars.stop(self._status())
            self._bars = None

    def on_event(self, change: Change, phase: str, result: ActionResult | None) -> None:
        doing, done = verbs(change)
        if phase == "start":
            self.running[change.address] = (doing, self.clock())
            if not self.live:
                self.echo(f"{change.address}: {doing}…")
            return
        assert result is not None
        self.running.pop(change.address, None)
        self.finished += 1
        self.last_end = self.clock()
        where = f"[{self.finished}/{self.total} at {clock_text(self.clock() - self.started_at)}]"
        if result.outcome == _DONE:
            ident = f" [id={result.remote_id}]" if result.remote_id else ""
            line = f"{change.address}: {done} in {result.elapsed_s:.1f}s{ident} {where}"
        else:
            line = f"{change.address}: FAILED after {result.elapsed_s:.1f}s: {result.error} {where}"
        if self._bars is not None:
            self._bars.advance(change, failure=None if result.outcome == _DONE else line)
            self._bars.status(self._status())
        else:
            self.echo(line)

    def _status(self) -> str:
        now = self.clock() if self.running or self.finished < self.total else self.last_end
        head = f"[{self.finished}/{self.total}] {clock_text(now - self.started_at)} elapsed"
        if not self.running:
            return head
        paused = throttled(self.calls())
        return f"{head}; {still_running(self.running, now)}" + (f"; {paused}" if paused else "")

    def heartbeat(self) -> None:
        """The line a wait of ``heartbeat_s`` prints in the log (nothing when nothing runs long)."""
        now = self.clock()
        long = {a: v for a, v in self.running.items() if now - v[1] >= self.heartbeat_s}
        if long:
            paused = throttled(self.calls())
            self.echo(f"[{self.finished}/{self.total} at {clock_text(now - self.started_at)}] "
                      f"{still_running(long, now)}" + (f"; {paused}" if paused else ""))  # fmt: skip

    async def _tick(self, interval: float) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(interval)
                if self._bars is not None:
                    self._bars.status(self._status())
                else:
                    self.heartbeat()


class _LiveBars:
    """One bar per kind and a total, redrawn in place on the terminal (``rich.progress``)."""

    def __init__(self, changes: Sequence[Change], *, colour: bool) -> None:
        from rich.console import Console, RenderableType
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class WithStatus(Progress):
            """The bars, then one status line (what runs longest) that may be cut, never wrapped."""

            status_line = ""

            def get_renderables(self) -> Iterable[RenderableType]:
                yield self.make_tasks_table(self.tasks)
                yield Text(self.status_line, overflow="ellipsis", no_wrap=True)

        self.console = Console(no_color=not colour, highlight=False)
        self.progress: WithStatus = WithStatus(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[done]}"),
            TimeElapsedColumn(),
            console=self.console,
            refresh_per_second=4,
        )
        per_kind = Counter(c.kind for c in changes)
        width = max(len(k) for k in [*per_kind, "total"])
        self.tasks: dict[str, TaskID] = {
            kind: self.progress.add_task(kind.ljust(width), total=count, done="")
            for kind, count in sorted(per_kind.items())
        }
        self.failed: Counter[str] = Counter()
        self.total = self.progress.add_task("total".ljust(width), total=len(changes), done="")
        self.progress.start()

    def advance(self, change: Change, *, failure: str | None) -> None:
        if failure is not None:
            self.failed[change.kind] += 1
            self.progress.console.print(failure, style="red", markup=False)
        task = self.tasks[change.kind]
        failed = self.failed[change.kind]
        self.progress.update(task, advance=1, done=f"[red]{failed} failed[/]" if failed else "")
        self.progress.update(self.total, advance=1)

    def status(self, text: str) -> None:
        self.progress.status_line = text

    def stop(self, text: str) -> None:
        self.status(text.split(";", 1)[0])
        self.progress.stop()


def wants_live(stream: Any, verbose: bool) -> bool:
    """Live bars only for a person: a terminal that can redraw, and no ``--verbose``."""
    return not verbose and bool(stream.isatty()) and os.environ.get("TERM", "") != "dumb"


class Heartbeat:
    """While a wait lasts (reading live state against a slow or throttling API, waiting for a
    lock), a line every ``interval`` seconds, so a silent terminal or CI log never looks hung:
    ``Still reading live state… 0:20 elapsed``, or with a ``limit``, ``… 0:20 elapsed, timeout in
    0:40``. ``what`` may be a function, read at each beat (who holds a lock changes). ``switch``
    turns to another wait (its clock starts again); ``stop`` ends it (idempotent)."""

    def __init__(
        self,
        echo: Callable[[str], None],
        what: str | Callable[[], str],
        *,
        interval: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
        limit: float | None = None,
    ) -> None:
        self.echo = echo
        self.what = what
        self.interval = interval
        self.clock = clock
        self.limit = limit
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def line(self, elapsed: float) -> str:
        what = self.what() if callable(self.what) else self.what
        left = ""
        if self.limit is not None:  # rounded up: the time left and the time waited add up to the limit
            left = f", timeout in {clock_text(math.ceil(max(self.limit - elapsed, 0.0)))}"
        return f"Still {what}… {clock_text(elapsed)} elapsed{left}"

    def start(self) -> Heartbeat:
        started = self.clock()

        async def beat() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                while True:
                    await asyncio.sleep(self.interval)
                    self.echo(self.line(self.clock() - started))

        self._task = asyncio.get_running_loop().create_task(beat())
        return self

    def switch(self, what: str | Callable[[], str], *, limit: float | None = None) -> None:
        """Beat for another wait from now on: its own words, its own clock."""
        self.stop()
        self.what, self.limit = what, limit
        self.start()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class LockHeartbeat:
    """A wait for another run's state lock, said at once and then on ``beat`` (a
    ``state.waiting.LockWatcher``): the holder and its start time, the time waited and the time left.
    The beat's earlier wait (reading live state) resumes once the lock is taken; else it stops."""

    def __init__(self, echo: Callable[[str], None], beat: Heartbeat) -> None:
        self.echo = echo
        self.beat = beat
        self._before: tuple[str | Callable[[], str], float | None] | None = None

    def waiting(self, holder: Callable[[], str], timeout: float) -> None:
        self._before = (self.beat.what, self.beat.limit) if self.beat.running else None
        self.echo(
            f"The state is locked by {holder()}; waiting up to {seconds_text(timeout)} (--lock-timeout)…"
        )
        self.beat.switch(lambda: f"waiting for the state lock held by {holder()}", limit=timeout)

    def done(self) -> None:
        if self._before is None:
            self.beat.stop()
        else:
            what, limit = self._before
            self.beat.switch(what, limit=limit)


def throttled(stats: Mapping[str, Any]) -> str:
    """``signaloid: 12 answers 429 so far`` for the APIs that throttled; empty when none did.
    ``stats``: the session's calls per API (``Session.http_stats``: each with ``rate_limited``)."""
    per_api = [
        f"{api}: {plural(s.rate_limited, 'answer')} 429" for api, s in sorted(stats.items()) if s.rate_limited
    ]
    return ", ".join(per_api) + " so far" if per_api else ""


def reading(what: str, stats: Callable[[], Mapping[str, Any]]) -> Callable[[], str]:
    """The words of a wait on the APIs, read at each beat: ``reading live state``, and once an API
    throttles, ``… (signaloid: 12 answers 429 so far, calls wait and retry)``."""

    def words() -> str:
        said = throttled(stats())
        return f"{what} ({said}, calls wait and retry)" if said else what

    return words


def heartbeat_interval(environ: Mapping[str, str]) -> float:
    """Seconds between heartbeats: ``RECONCILER_HEARTBEAT_INTERVAL`` (default 10; a CI job may want
    fewer lines, a test a short wait); a value that is not a positive number is an error."""
    raw = environ.get(HEARTBEAT_VAR, "").strip()
    if not raw:
        return HEARTBEAT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ReconcilerError(f"{HEARTBEAT_VAR}={raw!r}: expected a number of seconds above 0 (default 10)")
    return value
