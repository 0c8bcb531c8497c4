"""What the providers share per event loop (ARCHITECTURE.md, "Process-global state").

Every client of one API endpoint in a loop shares that endpoint's adaptive limiter, and every
parse of a listed page takes turns on one lock. Both are kept here, in one value per running loop,
held weakly: it goes when its loop does (each ``asyncio.run``: a command, a fleet run, a test),
so nothing of one run reaches the next.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.providers.concurrency import EndpointLimiter

__all__ = ["LoopLocal", "loop_local"]


@dataclass
class LoopLocal:
    limiters: dict[str, EndpointLimiter] = field(default_factory=dict)  # endpoint -> its limiter
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # parsing's turns (``http.in_turns``)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLocal] = weakref.WeakKeyDictionary()


def loop_local() -> LoopLocal:
    """The running loop's shared values (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = LoopLocal()
    return found
