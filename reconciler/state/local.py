"""State in a local JSON file beside the stack (default ``.reconciler/state.json``).

Writes are atomic (temp file, fsync, ``os.replace``). The lock is a file holding the holder's
pid, host and start time, written whole to a temp file and hard-linked into place (so nobody ever
reads a half-written lock); a lock whose process no longer runs on this host is stale and taken
over, with a message saying so. ``lock(purpose, timeout=...)`` waits that long for a live holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.errors import LockHeld, StateError
from reconciler.state.base import StateEntry, StateSnapshot, entries_from_json
from reconciler.state.waiting import LockWait

__all__ = ["LocalStateStore"]

FORMAT_VERSION = 1


class LocalStateStore:
    def __init__(self, path: Path, on_stale_lock: Any = None, *, wait: LockWait | None = None) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.description = f"local file {path}"
        self._entries: dict[str, StateEntry] | None = None
        self._write_lock = asyncio.Lock()
        self._changes = 0  # changes made in memory, counted
        self._durable = 0  # how many of them the file holds
        self._fragments: dict[str, tuple[StateEntry, str]] = {}
        self._on_stale_lock = on_stale_lock
        self._wait = wait or LockWait()

    def read(self) -> StateSnapshot:
        if self._entries is None:
            self._entries = self._load()
        return StateSnapshot(dict(self._entries))

    def _load(self) -> dict[str, StateEntry]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except RecursionError as exc:
            raise StateError(f"cannot read state file {self.path}: values nested too deeply") from exc
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from exc
        return entries_from_json(data, f"cannot read state file {self.path}")

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StateError(f"cannot write state file {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def lock(self, purpose: str, *, timeout: float = 0.0) -> Iterator[None]:
        """Hold the lock file for the block; wait up to ``timeout`` seconds for a live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "purpose": purpose}
        seen: list[dict[str, Any] | None] = [None]

        def attempt() -> bool:
            taken, seen[0] = self._try_take(holder)
            return taken

        if not self._wait.until(attempt, timeout):
            current = seen[0]
            waited = f"; waited {timeout:g}s" if timeout > 0 else ""
            if current is None:
                raise LockHeld(f"could not take the state lock {self.lock_path}{waited}")
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(current.get("since", 0)))
            raise LockHeld(
                f"state is locked by pid {current.get('pid')} on {current.get('host')} "
                f"({current.get('purpose', 'apply')}, since {since}){waited}; lock file: {self.lock_path}"
            )
        try:
            yield
        finally:
            self.lock_path.unlink(missing_ok=True)

    def _try_take(self, holder: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """One attempt: (True, None) if taken, else (False, the live holder if readable)."""
        for _ in range(2):
            try:
                self._link_lock(holder)
            except FileExistsError:
                current = self._read_holder()
                if current is not None and not self._is_stale(current):
                    return False, current
                if self._on_stale_lock:
                    self._on_stale_lock(current)
                self.lock_path.unlink(missing_ok=True)
                continue
            return True, None
        return False, None

    def _link_lock(self, holder: dict[str, Any]) -> None:
        """Create the lock file with its content in one step; FileExistsError if it is there."""
        fd, tmp = tempfile.mkstemp(dir=self.lock_path.parent, prefix=".lock.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(holder, fh)
            os.link(tmp, self.lock_path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _read_holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.lock_path.read_text())
        except (OSError, ValueError):
            return None  # unreadable or half-written: treat as stale

    @staticmethod
    def _is_stale(holder: dict[str, Any]) -> bool:
        if holder.get("host") != socket.gethostname():
            return False  # cannot tell: another machine's process
        pid = holder.get("pid")
        if not isinstance(pid, int):
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
