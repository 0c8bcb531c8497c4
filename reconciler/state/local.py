"""State in a local JSON file beside the stack (default ``.reconciler/state.json``).

The file is state format 2 (``docs/state-format.md``); a format 1 file is read (migrated) and
written back in format 2 by the next write, which rewrites the whole file.

Writes are atomic (temp file, fsync, ``os.replace``). The lock is an ``flock`` on the state
directory, held open for the whole run, with a lock file naming the holder (see
:mod:`reconciler.state.local_lock`); every write is fenced: it checks the lock still guards the
state path first. ``lock(purpose, timeout=...)`` waits that long for a live holder
(:mod:`reconciler.state.waiting`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from reconciler.common.paths import PathProblem, read_capped, write_atomic
from reconciler.errors import LockHeld, StateError
from reconciler.state.base import StateEntry, StateSnapshot, entries_from_json
from reconciler.state.entry import FORMAT_VERSION
from reconciler.state.local_lock import DirectoryLock, held_message, holder_text
from reconciler.state.waiting import LockWait, LockWatcher, StateLock

if TYPE_CHECKING:
    from reconciler.kinds import Kind

__all__ = ["LocalStateStore"]

# A state file is read whole; 256 MiB is ~500,000 entries, far past any stack we have seen.
MAX_STATE_BYTES = 256 * 2**20


class LocalStateStore:
    backend = "local"

    def __init__(
        self,
        path: Path,
        on_stale_lock: Any = None,
        *,
        wait: LockWait | None = None,
        kinds: Mapping[str, Kind] | None = None,
    ) -> None:
        """``kinds``: the kinds an entry may be of, by name (default: the shipped registry)."""
        self.path = path
        self._kinds = kinds
        self.lock_path = path.with_name(path.name + ".lock")
        self.description = f"local file {path}"
        self._entries: dict[str, StateEntry] | None = None
        self._write_lock = asyncio.Lock()
        self._changes = 0  # changes made in memory, counted
        self._durable = 0  # how many of them the file holds
        self._fragments: dict[str, tuple[StateEntry, str]] = {}
        self._on_stale_lock = on_stale_lock
        self._wait = wait or LockWait()
        self._held: DirectoryLock | None = None

    def read(self) -> StateSnapshot:
        if self._entries is None:
            self._entries = self._load()
        return StateSnapshot(dict(self._entries))

    def _load(self) -> dict[str, StateEntry]:
        if not self.path.exists() and not self.path.is_symlink():
            return {}
        try:
            data = _decode(read_capped(self.path, MAX_STATE_BYTES).decode("utf-8"))
        except RecursionError as exc:
            raise StateError(f"cannot read state file {self.path}: values nested too deeply") from exc
        except PathProblem as exc:
            raise StateError(f"cannot read state file {exc}") from exc
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from exc
        return entries_from_json(data, f"cannot read state file {self.path}", self._kinds)

    async def record(self, address: str, entry: StateEntry | None) -> None:
        """Persist one change; returns once a write holding it is durable.

        Group commit: records arriving while a write is in flight share the next write (the
        file is written whole each time, so one write covers every change made before it).
        """
        entries = self._entries if self._entries is not None else self._load()
        if entry is None:
            entries.pop(address, None)
        else:
            entries[address] = entry
        self._entries = entries
        self._changes += 1
        mine = self._changes
        async with self._write_lock:
            if self._durable >= mine:
                return  # a write that started after this change already made it durable
            upto = self._changes
            self._fence()
            text = self._serialise(entries)
            await asyncio.to_thread(self._write_text, text)
            self._durable = upto

    def _serialise(self, entries: dict[str, StateEntry]) -> str:
        """The file's text, as ``json.dump(doc, indent=1, sort_keys=True)`` writes it; each entry's
        text is cached (entries are immutable), so a write costs a join, not a re-encode of all."""
        cache = self._fragments
        parts = []
        for address in sorted(entries):
            entry = entries[address]
            cached = cache.get(address)
            if cached is None or cached[0] is not entry:
                body = json.dumps(entry.to_json(), indent=1, sort_keys=True).replace("\n", "\n  ")
                cached = cache[address] = (entry, f"  {json.dumps(address)}: {body}")
            parts.append(cached[1])
        for gone in cache.keys() - entries.keys():
            del cache[gone]
        resources = "{\n" + ",\n".join(parts) + "\n }" if parts else "{}"
        return f'{{\n "format_version": {FORMAT_VERSION},\n "resources": {resources}\n}}'

    def _write_text(self, text: str) -> None:
        try:
            write_atomic(self.path, text, durable=True)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc}") from exc

    def lock(self, purpose: str, *, timeout: float = 0.0, watcher: LockWatcher | None = None) -> StateLock:
        """The lock (``flock`` on the state directory), held for an ``async with`` block; waits up
        to ``timeout`` seconds for a live holder, telling ``watcher`` who it is."""
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "purpose": purpose}
        held = DirectoryLock(self.lock_path, holder)
        seen: list[dict[str, Any] | None] = [None]

        def take() -> str | None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            seen[0] = held.take(self._on_stale_lock)
            if seen[0] is None:
                self._held = held
                return None
            return holder_text(self.lock_path, seen[0])

        def release() -> None:
            self._held = None
            held.release()

        def refused() -> LockHeld:
            return LockHeld(held_message(self.lock_path, seen[0], timeout))

        return StateLock(self._wait, take, release, refused, timeout=timeout, watcher=watcher)

    async def fence(self) -> None:
        """Raise LockLost if this store holds the lock and no longer guards the state path."""
        self._fence()

    def close(self) -> None:
        """Nothing to release: each read and write opens and closes the file."""

    def _fence(self) -> None:
        if self._held is not None:
            self._held.fence()


def _decode(text: str) -> Any:
    """The state document: orjson reads it in half the time of the json module (a large state is
    read whole by every command); what orjson refuses (nesting past 1,024, NaN, huge integers) the
    json module decides, with its own message."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
