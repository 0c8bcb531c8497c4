"""The local state lock: ``flock`` on the state directory, plus a lock file naming the holder.

Exclusion comes from the kernel, not from a file's existence: the holder keeps the state
directory open with an exclusive ``flock`` for the whole run. Removing or replacing the lock
file does not free the lock (the attack that let two applies run at once), and a killed
holder's ``flock`` is released by the kernel, so a dead process never leaves the state locked.

The lock file (``state.json.lock``: pid, host, purpose, start time and a random token) only says
*who* holds it, for the message a refused run prints. A holder restores it if someone removes or
replaces it, and removes it on release only if it still carries its token (never another run's
file; an inode number alone is no proof, the file system reuses them at once).

Fencing: before every state write the holder checks (:meth:`DirectoryLock.fence`) that the
directory it locked is still the one at the state path (not removed: a removed directory's link
count is 0; not moved away: same device and inode); otherwise the lock no longer guards that path
and the run stops before writing, with :class:`LockLost`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.common.paths import read_capped, write_atomic
from reconciler.common.redact import excerpt
from reconciler.common.words import seconds as seconds_text
from reconciler.errors import LockLost, StateError, os_error_message
from reconciler.state.waiting import utc_text, wait_hint

__all__ = ["DirectoryLock", "held_message", "holder_text", "is_stale", "read_holder"]

FileId = tuple[int, int]  # (st_dev, st_ino)


def _file_id(st: os.stat_result) -> FileId:
    return (st.st_dev, st.st_ino)


class DirectoryLock:
    """One holding of the lock on ``lock_path.parent``; ``take`` tries once, ``release`` lets go."""

    def __init__(self, lock_path: Path, holder: dict[str, Any]) -> None:
        self.lock_path = lock_path
        self.directory = lock_path.parent
        self.holder = {**holder, "token": uuid.uuid4().hex}
        self._fd: int | None = None
        self._dir_id: FileId | None = None

    def take(self, on_stale: Callable[[dict[str, Any] | None], None] | None) -> dict[str, Any] | None:
        """One attempt. Returns None when taken, else what the lock file says of the holder
        (``{}`` when another process holds the ``flock`` but its lock file is gone)."""
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StateError(f"cannot open the state directory {self.directory} to lock it: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return read_holder(self.lock_path) or {}
        except OSError as exc:
            os.close(fd)
            raise StateError(
                f"cannot lock the state directory {self.directory} ({exc}): its file system does not "
                "support flock; keep local state on a local disk, or use the postgres backend"
            ) from None
        try:
            return self._claim(fd, on_stale)
        except OSError as exc:
            os.close(fd)
            self._fd = None
            message = os_error_message(exc)
            raise StateError(f"cannot write the lock file {self.lock_path}: {message}") from None

    def _claim(
        self, fd: int, on_stale: Callable[[dict[str, Any] | None], None] | None
    ) -> dict[str, Any] | None:
        """Holding the flock: refuse a live holder that does not flock, else write our record."""
        current = read_holder(self.lock_path)
        if current is not None and not is_stale(current):
            # No flock, yet a live process (or another host's) names itself: a holder that does not
            # flock (an older reconciler, or another machine on a shared disk). Never taken over.
            os.close(fd)
            return current
        if os.path.lexists(self.lock_path):
            if on_stale:
                on_stale(current)
            self.lock_path.unlink(missing_ok=True)
        self._fd = fd
        self._dir_id = _file_id(os.fstat(fd))
        self._write_holder()
        return None

    def fence(self) -> None:
        """Raise LockLost unless the state directory is still the one this holder locked; put the
        lock file back if someone removed or replaced it."""
        if self._fd is None:
            return
        try:
            here = _file_id(os.stat(self.directory))
        except OSError:
            here = None
        if here != self._dir_id or os.fstat(self._fd).st_nlink == 0:
            raise LockLost(
                f"lost the state lock: {self.directory} was removed or replaced while this run held it; "
                "stopped before the next state write"
            )
        if not self._ours():
            with contextlib.suppress(OSError):  # the record only names the holder: best effort
                self._write_holder()

    def release(self) -> None:
        """Remove the lock file if it is still ours, then let go of the flock."""
        if self._fd is None:
            return
        try:
            if self._ours():
                self.lock_path.unlink()
        except OSError:
            pass  # gone already: nothing to remove
        finally:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def _ours(self) -> bool:
        current = read_holder(self.lock_path)
        return current is not None and current.get("token") == self.holder["token"]

    def _write_holder(self) -> None:
        """Write the holder's record whole to a temp file and rename it into place."""
        write_atomic(self.lock_path, json.dumps(self.holder))


def read_holder(lock_path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_capped(lock_path, 64 * 1024))  # a holder record is ~200 bytes
    except (OSError, ValueError):
        return None  # missing, unreadable or half-written
    return data if isinstance(data, dict) else None


def is_stale(holder: dict[str, Any]) -> bool:
    """Whether a lock file's holder is surely gone: a process of this host that no longer runs."""
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


def holder_text(lock_path: Path, current: dict[str, Any]) -> str:
    """Who holds the lock, from its lock file: ``pid 4242 on ci-7 (apply, since 2026-12-07
    23:10:04 UTC)``; ``{}`` (the flock is held, the file gone) says so."""
    if not current:
        return f"another process (it holds {lock_path.parent}; its lock file {lock_path.name} is missing)"
    stamp = current.get("since", 0)
    stamp = stamp if isinstance(stamp, int | float) and 0 <= stamp < 2**40 else 0
    return (
        f"pid {excerpt(str(current.get('pid')), limit=40)} on {excerpt(str(current.get('host')), limit=100)} "
        f"({excerpt(str(current.get('purpose', 'apply')), limit=60)}, since {utc_text(stamp)})"
    )


def held_message(lock_path: Path, current: dict[str, Any] | None, timeout: float) -> str:
    """Why the lock could not be taken, naming the holder when its lock file says who it is."""
    waited = f"; waited {seconds_text(timeout)}" if timeout > 0 else ""
    where = f"; lock file: {lock_path}" if current else ""
    return f"state is locked by {holder_text(lock_path, current or {})}{waited}{where}{wait_hint(timeout)}"
