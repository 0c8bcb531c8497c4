"""The whole run's wall-clock deadline: ``RECONCILER_RUN_TIMEOUT`` seconds (default one hour,
0 for none). Each HTTP attempt has its own deadline (``providers/limits.py``); this one bounds
everything else too (retries, waits, many calls), so no server can hold a cron job for ever.

An apply stopped by it stops like an interrupted one: what was recorded stays recorded, and the
next run finishes the rest."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from reconciler.common.words import seconds as seconds_text
from reconciler.errors import ReconcilerError

__all__ = ["DEFAULT_RUN_TIMEOUT_S", "RUN_TIMEOUT_VAR", "RunTimedOut", "run_deadline", "within"]

T = TypeVar("T")
RUN_TIMEOUT_VAR = "RECONCILER_RUN_TIMEOUT"
DEFAULT_RUN_TIMEOUT_S = 3600.0


class RunTimedOut(ReconcilerError):
    """The run took longer than its deadline and was stopped."""


def run_deadline(environ: Mapping[str, str]) -> float | None:
    """Seconds the run may take, or None for no limit; a value that is not a number is an error."""
    raw = environ.get(RUN_TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_RUN_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ReconcilerError(f"{RUN_TIMEOUT_VAR}={raw!r}: expected a number of seconds (0 for no limit)")
    return seconds or None


async def within(coro: Coroutine[Any, Any, T], seconds: float | None) -> T:
    """Await ``coro``; past ``seconds``, cancel it and raise RunTimedOut."""
    if seconds is None:
        return await coro
    try:
        async with asyncio.timeout(seconds) as scope:
            return await coro
    except TimeoutError:
        if not scope.expired():
            raise
        raise RunTimedOut(
            f"the run did not finish within {seconds_text(seconds)} ({RUN_TIMEOUT_VAR}) and was stopped; "
            "what was done and recorded stays recorded: run it again to finish"
        ) from None
