"""The long-running process: find the stacks, claim the due ones, check them, record, repeat.

The stack folders are walked again every ``rediscover_s`` (10 s, or half the interval if shorter)
and each stack's files are read afresh at each of its checks (a git-sync sidecar or a ``git pull``
keeps them current): new stacks are due at once, stacks gone from disk are no longer checked (and nothing of
theirs is touched). At most ``max_stacks`` stacks are checked at once. A folder that cannot be
read keeps the stacks last found (they are not dropped, and never taken as empty) and makes the
process not ready. ``stop`` (SIGTERM) ends claiming; checks in flight get ``grace_s`` to finish,
then are cancelled: an apply cut short leaves its journal, which the next check of that stack
reads under the lock (``engine/journal.py``), and the stack is released for another replica.

Memory: the command line runs the cyclic garbage collector rarely (``collect_garbage_less``: right
for a command that ends), so a long-running loop collects the cycles its finished checks left
(tracebacks, futures, clients) once per round itself, after ``gc.freeze`` has set aside what was
built at start-up: without it the process's RSS stepped up by a quarter over 30 minutes
(``bench/watch.py``); each collection costs a few milliseconds every ``rediscover_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.app.fleet.discover import StackRef, discover
from reconciler.app.fleet.run import describe_error
from reconciler.app.watch.check import CheckContext, Checker, StackCheck, check_stacks
from reconciler.app.watch.history import NOTIFIED, Event, HistoryStore
from reconciler.app.watch.schedule import Schedule

__all__ = ["WatchOptions", "Watcher", "event_message"]

Notify = Callable[[dict[str, Any]], Awaitable[None]]
Log = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class WatchOptions:
    roots: tuple[Path, ...]
    max_stacks: int = 16
    grace_s: float = 30.0
    tick_s: float = 1.0
    rediscover_s: float = 10.0  # how often the folders are walked for new and removed stacks
    suspend: bool = False  # the global switch, from the command line
    suspend_file: Path | None = None  # the global switch at run time: writes stop while it exists

    def suspended(self) -> bool:
        """The global switch: ``--suspend``, or the suspend file present."""
        return self.suspend or bool(self.suspend_file and self.suspend_file.exists())


@dataclass
class Watcher:
    options: WatchOptions
    ctx: CheckContext
    schedule: Schedule
    history: HistoryStore
    checker: Checker  # where checks run: this process, or worker processes (check.py)
    log: Log
    notify: Notify | None = None
    on_checked: Callable[[StackCheck], None] = lambda _check: None
    refs: dict[str, StackRef] = field(default_factory=dict)
    discovery_error: str | None = None
    schedule_error: str | None = None
    last_tick: float = field(default_factory=time.monotonic)
    _discovered_at: float = -1e9
    _registered: frozenset[str] | None = None
    busy: int = 0
    started: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def discover(self) -> None:
        try:
            found = discover(list(self.options.roots))
        except Exception as exc:  # keep what was found last: a stack never vanishes for a read error
            message = describe_error(exc)
            if message != self.discovery_error:
                self.log({"event": "discovery_failed", "message": message})
            self.discovery_error = message
            return
        for gone in sorted(set(self.refs) - {r.name for r in found}):
            self.log({"event": "stack_gone", "stack": gone, "message": "no longer on disk; not checked"})
        self.refs = {r.name: r for r in found}
        self.discovery_error = None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; then drain (``grace_s``) and let go of what is claimed."""
        gc.collect()
        gc.freeze()  # what start-up built lives to the end: never walked again by the collector
        try:
            while not stop.is_set():
                self.last_tick = time.monotonic()
                try:
                    await self._tick()
                    self.schedule_error = None
                except Exception as exc:  # the schedule's store is down: log it, be not ready, go on
                    message = describe_error(exc)
                    if message != self.schedule_error:
                        self.log({"event": "schedule_failed", "message": message})
                    self.schedule_error = message
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.options.tick_s)
        finally:
            await self._drain()

    async def _tick(self) -> None:
        if self.last_tick - self._discovered_at >= self.options.rediscover_s:
            self._discovered_at = self.last_tick
            self.discover()
            self.checker.new_round()  # reads shared by stacks of one account: fresh each round
            gc.collect()  # the cycles finished checks left (module docstring)
        if self._registered != frozenset(self.refs):  # (again after a failure)
            await self.schedule.register(sorted(self.refs))
            self._registered = frozenset(self.refs)
        self.started = True
        free = self.options.max_stacks - self.busy
        if free > 0:
            claims = await self.schedule.claim(free)
            batch = [self.refs[c.stack] for c in claims if c.stack in self.refs]
            for stray in (c.stack for c in claims if c.stack not in self.refs):
                await self.schedule.release(stray)
            if batch:
                self._start(batch)

    def _start(self, batch: Sequence[StackRef]) -> None:
        self.busy += len(batch)
        task = asyncio.create_task(self._check(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, batch: Sequence[StackRef]) -> None:
        pending = {ref.name for ref in batch}

        async def done(ref: StackRef, check: StackCheck) -> None:
            pending.discard(ref.name)
            self.busy -= 1
            try:
                await self.schedule.finish(
                    ref.name, interval_s=check.interval_s, failed=check.failed, result=check.result
                )
            except Exception as exc:  # the schedule's store failed: the stack comes due again
                self.log({"event": "schedule_failed", "stack": ref.name, "message": describe_error(exc)})
                with contextlib.suppress(Exception):
                    await self.schedule.release(ref.name)
            self.on_checked(check)
            self.log({"event": "checked", **_check_line(check)})
            for event in check.events:
                self._announce(ref.name, event)

        try:
            await check_stacks(batch, self.ctx, self.history, self.checker, done)
        finally:
            self.busy -= len(pending)
            for name in sorted(pending):  # cancelled (shutdown): due again at once, for another replica
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.schedule.release(name))

    def _announce(self, stack: str, event: Event) -> None:
        self.log({"event": "transition", "stack": stack, **event.to_json(), "transition": event.event})
        if self.notify is not None and event.event in NOTIFIED:
            task = asyncio.create_task(self._send(stack, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, stack: str, event: Event) -> None:
        assert self.notify is not None
        try:
            await self.notify(event_message(stack, event))
        except Exception as exc:
            self.log({"event": "notify_failed", "stack": stack, "message": describe_error(exc)})

    async def _drain(self) -> None:
        if not self._tasks:
            return
        self.log({"event": "draining", "in_flight": self.busy, "grace_s": self.options.grace_s})
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.options.grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
            self.log({"event": "cancelled", "message": "checks still running at the end of the grace period"})


def event_message(stack: str, event: Event) -> dict[str, Any]:
    """What ``--notify`` sends for one transition (a ``text`` line for chat webhooks)."""
    names = ", ".join(event.addresses[:10]) + (
        f" and {len(event.addresses) - 10} more" if len(event.addresses) > 10 else ""
    )
    detail = event.message.splitlines()[0] if event.message else ""
    text = f"reconciler watch: {stack}: {event.event.replace('_', ' ')}"
    text += f": {detail}" if detail else ""
    text += f" ({names})" if names and names not in detail else ""
    return {
        "format_version": "1",
        "report": "reconciler-watch-event",
        "stack": stack,
        **event.to_json(),
        "text": text,
    }


def _check_line(check: StackCheck) -> Mapping[str, Any]:
    result = check.result
    return {
        "stack": result["name"],
        "status": result["status"],
        "checked_at": result["checked_at"],
        "duration_s": result["duration_s"],
        "healed": list(check.healed),
        "synced": list(check.synced),
        "failed": check.failed,
        "error": result["error"] or result.get("watch", {}).get("apply_error"),
        "started_unix": check.started,
        "at_unix": time.time(),
    }
