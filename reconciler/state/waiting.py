"""Waiting for a state lock: try, and try again until ``--lock-timeout`` has passed.

Both backends wait the same way: a store's ``lock()`` returns a :class:`StateLock`, which holds
the backend's one attempt (``take``) and its release, and this module the waiting. ``async with``
waits without blocking the event loop (each attempt in a worker thread, ``asyncio.sleep``
between), so a heartbeat and everything else in the loop keep running; ``with`` waits in the
calling thread (a script or a test holding a lock). Clock and sleep are injectable so the waiting
is tested without real time passing. A timeout of 0 means one attempt and no sleep.

While it waits, the lock tells a :class:`LockWatcher` (the command line's heartbeat) who holds
the lock, so a person sees what they wait for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from reconciler.common.words import seconds as seconds_text

__all__ = ["LockWait", "LockWatcher", "StateLock", "utc_text", "wait_hint"]

POLL_INTERVAL_S = 0.25

# One attempt: None when the lock was taken, else who holds it, in words (for the heartbeat).
Attempt = Callable[[], "str | None"]


class LockWatcher(Protocol):
    """Told when a wait for a held lock begins and when it ends (taken, timed out or cancelled)."""

    def waiting(self, holder: Callable[[], str], timeout: float) -> None:
        """The first attempt was refused; ``holder()`` names the current holder, as last seen."""

    def done(self) -> None: ...


@dataclass(frozen=True)
class LockWait:
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    interval: float = POLL_INTERVAL_S

    def pauses(self, timeout: float) -> Iterator[float]:
        """The pauses between attempts after a first refusal: the one rule of both ways of
        waiting. Each is at most ``interval``; they end ``timeout`` seconds after the first."""
        deadline = self.clock() + max(timeout, 0.0)
        while (remaining := deadline - self.clock()) > 0:
            yield min(self.interval, remaining)


class StateLock:
    """One request for a store's lock, entered with ``async with`` (or ``with``); raises what
    ``refused`` makes when the lock is still held after ``timeout`` seconds."""

    def __init__(
        self,
        wait: LockWait,
        take: Attempt,
        release: Callable[[], None],
        refused: Callable[[], BaseException],
        *,
        timeout: float,
        watcher: LockWatcher | None = None,
    ) -> None:
        self._wait = wait
        self._take = take
        self._release = release
        self._refused = refused
        self._timeout = timeout
        self._watcher = watcher
        self._holder = ""

    def _attempt(self) -> bool:
        holder = self._take()
        if holder is None:
            return True
        self._holder = holder
        return False

    def _begin_wait(self) -> None:
        if self._watcher is not None and self._timeout > 0:
            self._watcher.waiting(lambda: self._holder, self._timeout)

    def _end_wait(self) -> None:
        if self._watcher is not None and self._timeout > 0:
            self._watcher.done()

    def __enter__(self) -> None:
        if self._attempt():
            return
        self._begin_wait()
        try:
            taken = False
            for pause in self._wait.pauses(self._timeout):
                self._wait.sleep(pause)
                if taken := self._attempt():
                    break
        finally:
            self._end_wait()
        if not taken:
            raise self._refused()

    def __exit__(self, *_exc: object) -> None:
        self._release()

    async def _attempt_off_loop(self) -> bool:
        """One attempt in a worker thread; if the wait is cancelled meanwhile, a lock the attempt
        takes after all is let go as soon as it returns."""
        attempt = asyncio.ensure_future(asyncio.to_thread(self._attempt))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:

            def let_go(done: asyncio.Future[bool]) -> None:
                if not done.cancelled() and done.exception() is None and done.result():
                    self._release()

            attempt.add_done_callback(let_go)
            raise

    async def __aenter__(self) -> None:
        if await self._attempt_off_loop():
            return
        self._begin_wait()
        try:
            taken = False
            for pause in self._wait.pauses(self._timeout):
                await self._wait.async_sleep(pause)
                if taken := await self._attempt_off_loop():
                    break
        finally:
            self._end_wait()
        if not taken:
            raise await asyncio.to_thread(self._refused)

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._release)


def utc_text(epoch: float) -> str:
    """A lock's start time with its zone: ``2026-12-07 23:10:04 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def wait_hint(timeout: float) -> str:
    """What to do about a held lock, said after the holder: wait with ``--lock-timeout``."""
    if timeout > 0:
        return f"; to wait longer than {seconds_text(timeout)}, raise --lock-timeout"
    return "; to wait for it, pass --lock-timeout SECONDS (e.g. --lock-timeout 300)"
