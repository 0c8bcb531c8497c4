"""Waiting for a state lock: try, and try again until ``--lock-timeout`` has passed.

Both backends wait the same way, with an injectable clock and sleep so the waiting is tested
without real time passing. A timeout of 0 means one attempt and no sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.common.words import seconds as seconds_text

__all__ = ["LockWait", "wait_hint"]

POLL_INTERVAL_S = 0.25


@dataclass(frozen=True)
class LockWait:
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    interval: float = POLL_INTERVAL_S

    def until(self, attempt: Callable[[], bool], timeout: float) -> bool:
        """Call ``attempt`` until it returns True (then True) or ``timeout`` seconds pass (False)."""
        deadline = self.clock() + max(timeout, 0.0)
        while True:
            if attempt():
                return True
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self.sleep(min(self.interval, remaining))


def wait_hint(timeout: float) -> str:
    """What to do about a held lock, said after the holder: wait with ``--lock-timeout``."""
    if timeout > 0:
        return f"; to wait longer than {seconds_text(timeout)}, raise --lock-timeout"
    return "; to wait for it, pass --lock-timeout SECONDS (e.g. --lock-timeout 300)"
