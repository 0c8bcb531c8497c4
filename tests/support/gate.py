"""Deterministic concurrency for CLI tests: a gate in front of the emulators, and the CLI in a
process of its own.

``Gate`` holds mutating requests until the test opens it, so "the first apply is mid-run and holds
the lock" is a fact the test waits for (``poll``), not a guess about timing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Gate", "finish", "poll", "spawn"]

RECONCILER_BIN = Path(sys.executable).with_name("reconciler")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
HOLD_LIMIT_S = 60.0  # a held request is answered 503 after this, so nothing can hang for ever


def poll(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def spawn(*args: str | os.PathLike[str]) -> subprocess.Popen[str]:
    """``reconciler ARGS`` in its own process (inheriting the sandbox and DSN variables)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.Popen(
        [str(RECONCILER_BIN), *map(str, args)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


class Gate:
    """ASGI layer: lets the first ``allow`` mutating requests through, holds the rest until opened."""

    def __init__(self, allow: int = 0) -> None:
        self.allow = allow
        self.passed = 0
        self.held = 0
        self._opened = False
        self._reject = False
        self.app: Any = None

    def wrap(self, app: Any) -> Gate:
        self.app = app
        return self

    def open(self, *, reject_held: bool = False) -> None:
        self._reject = reject_held
        self._opened = True

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in MUTATING:
            if self.passed >= self.allow and not self._opened:
                self.held += 1
                deadline = time.monotonic() + HOLD_LIMIT_S
                while not self._opened and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                if self._reject or not self._opened:
                    await send({"type": "http.response.start", "status": 503, "headers": []})
                    await send({"type": "http.response.body", "body": b"gate closed"})
                    return
            self.passed += 1
        await self.app(scope, receive, send)
