"""The hub emulator's streams: an instance's ``/output`` and ``/stdout``, and the hub's ``/log``.

On a real Transform Hub 0.18.7 each is a chunked ``application/octet-stream`` answer that stays
open: it carries what was written before the request and then whatever comes, until the instance
(or the hub) ends. A :class:`Feed` is that: a bounded history and one queue per reader.

Sandbox instances run no code, so what an instance "writes" is chosen here: its ``/output`` carries
what is sent to its ``/input``, each chunk as the JSON string a passthrough sequence would yield
(the real hub JSON-encodes what a sequence yields: ``"1\\n"``), and its ``/stdout`` stays open
and silent. ``endless=False`` (the CLI's in-process sandbox, whose transport waits for a whole
answer) ends each stream after its history instead of keeping it open.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

__all__ = ["Feed"]

HISTORY_CHUNKS = 1000


class Feed:
    def __init__(self, endless: bool) -> None:
        self.endless = endless
        self.history: deque[bytes] = deque(maxlen=HISTORY_CHUNKS)
        self.readers: set[asyncio.Queue[bytes | None]] = set()
        self.closed = False

    def write(self, chunk: bytes) -> None:
        if self.closed:
            return
        self.history.append(chunk)
        for queue in self.readers:
            queue.put_nowait(chunk)

    def close(self) -> None:
        """The writer ended (the instance is gone): every reader's stream ends."""
        self.closed = True
        for queue in self.readers:
            queue.put_nowait(None)

    async def follow(self) -> AsyncIterator[bytes]:
        """What was written so far, then (``endless``) what comes, until :meth:`close`."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        following = self.endless and not self.closed
        if following:
            self.readers.add(queue)  # before the history is read: nothing written meanwhile is lost
        try:
            for old in list(self.history):
                yield old
            while following and (new := await queue.get()) is not None:
                yield new
        finally:
            self.readers.discard(queue)
