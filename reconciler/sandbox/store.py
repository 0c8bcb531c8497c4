"""Persistence for the emulators: one JSON document per emulator in a data directory.

Every emulator keeps its whole state in one plain dict and calls :meth:`JsonStore.save`
after each mutation. Writes are atomic (temp file + ``os.replace``) so a killed
process never leaves a half-written file behind. Without a directory the store
is memory-only.

``write_behind(True)`` (what ``reconciler sandbox serve`` uses) moves the file writes to one
background thread: ``save`` encodes the document at once (so the file always holds a state the
API was in) and returns; the writer writes only the newest document when several are waiting.
On this machine's file systems a replace-over-an-existing-file costs milliseconds (the data is
flushed first), which a server handling every request in turn cannot afford per mutation.
Under write-behind, ``save`` called from a running event loop also coalesces: the document is
encoded once per burst (``DEBOUNCE_S`` after the first change), on the loop's own thread so the
snapshot is consistent, instead of once per mutation (re-encoding the whole state per request
was ~40% of the served emulator's CPU). Pending writes are flushed before a load of the same file
and at interpreter exit; a SIGKILL may lose the last few milliseconds of changes, never leave a
torn file.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import threading
from pathlib import Path
from typing import Any

from reconciler.common.paths import write_atomic

__all__ = ["JsonStore", "write_behind"]

DEBOUNCE_S = 0.05
_unencoded: set[JsonStore] = set()  # stores with a change not yet encoded (write-behind only)

_WRITE_BEHIND = False
_pending: dict[Path, str] = {}  # path -> newest encoded document not written yet
_cond = threading.Condition()
_writing: set[Path] = set()
_writer: threading.Thread | None = None


def write_behind(enabled: bool = True) -> None:
    """Write emulator files from a background thread (see the module docstring)."""
    global _WRITE_BEHIND
    _WRITE_BEHIND = enabled
    if enabled:
        atexit.unregister(flush)
        atexit.register(flush)  # once: changes still waiting for their burst to end are written
    else:
        flush()


def flush(path: Path | None = None) -> None:
    """Wait until pending writes (of ``path``, or all) are on disk."""
    for store in list(_unencoded):
        if path is None or store.path == path:
            store.encode_pending()
    with _cond:
        while (path in _pending or path in _writing) if path is not None else (_pending or _writing):
            _cond.wait()


def _write_file(path: Path, text: str) -> None:
    write_atomic(path, text)


def _run_writer() -> None:
    while True:
        with _cond:
            while not _pending:
                _cond.wait()
            path, text = next(iter(_pending.items()))
            del _pending[path]
            _writing.add(path)
        try:
            _write_file(path, text)
        except OSError:
            pass  # an emulator's file: the next save tries again
        finally:
            with _cond:
                _writing.discard(path)
                _cond.notify_all()


def _enqueue(path: Path, text: str) -> None:
    global _writer
    with _cond:
        _pending[path] = text
        if _writer is None:
            _writer = threading.Thread(target=_run_writer, name="sandbox-store-writer", daemon=True)
            _writer.start()
            atexit.register(flush)
        _cond.notify_all()


class JsonStore:
    def __init__(self, data_dir: Path | None, name: str) -> None:
        self.path = Path(data_dir) / f"{name}.json" if data_dir is not None else None

    def load(self, default: dict[str, Any]) -> dict[str, Any]:
        if self.path is None:
            return default
        flush(self.path)
        if not self.path.exists():
            return default
        with self.path.open(encoding="utf-8") as fh:
            loaded = json.load(fh)
        return {**default, **loaded}

    def save(self, data: dict[str, Any]) -> None:
        if self.path is None:
            return
        # dumps, not dump: json.dump always takes the pure-Python encoder (~10x slower).
        if not _WRITE_BEHIND:
            _write_file(self.path, json.dumps(data, sort_keys=True))
            return
        self._data: dict[str, Any] | None = data
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside a server's loop: encode now
            self.encode_pending()
            return
        if self not in _unencoded:
            _unencoded.add(self)
            loop.call_later(DEBOUNCE_S, self.encode_pending)

    def encode_pending(self) -> None:
        """Encode the newest document and hand it to the writer thread."""
        _unencoded.discard(self)
        data = getattr(self, "_data", None)
        if data is not None and self.path is not None:
            self._data = None
            _enqueue(self.path, json.dumps(data, sort_keys=True))
