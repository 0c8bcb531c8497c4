"""Filesystem paths: resolve them with the same outcome, and the same words, on every supported
Python; read a file from outside with a cap, never blocking (:func:`read_capped`, the one rule for
every file the tool reads: stacks, state, reports, saved plans, packages); write a file whole or
not at all (:func:`write_atomic`, the one copy of that dance).

``Path.resolve()`` changed between versions: up to Python 3.12 a symlink loop raises
``RuntimeError("Symlink loop from …")``; from 3.13 ``resolve(strict=True)`` raises ``OSError``
(``ELOOP``) and ``resolve()`` returns the looping path as if it were fine, so the caller later
reports it as missing. Callers here get one outcome on every Python: a :class:`PathProblem` whose
message names the path and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "NOT_REGULAR",
    "SYMLINK_LOOP",
    "PathProblem",
    "read_capped",
    "regular_size",
    "resolve",
    "write_atomic",
]

SYMLINK_LOOP = "a symlink loop (a symbolic link that leads back to itself)"
NOT_REGULAR = "not a regular file (a FIFO, a device, a socket or a folder)"
_CHUNK = 1 << 20


class PathProblem(OSError):
    """A path that cannot be followed. ``str()`` is ``"<path>: <reason>"``, the same on every Python."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def resolve(path: Path, *, strict: bool = False) -> Path:
    """``path.resolve(strict=strict)``, but a symlink loop is always a :class:`PathProblem`, as is
    (with ``strict``) a missing file or any other error on the way."""
    try:
        return path.resolve(strict=True)
    except RuntimeError as exc:  # Python <= 3.12: "Symlink loop from …"
        raise PathProblem(path, SYMLINK_LOOP) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # Python >= 3.13
            raise PathProblem(path, SYMLINK_LOOP) from exc
        if not strict and exc.errno in (errno.ENOENT, errno.ENOTDIR):
            # Missing from here on: nothing further can loop, and non-strict allows a missing tail.
            return path.resolve()
        raise PathProblem(path, os.strerror(exc.errno) if exc.errno else str(exc)) from exc


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return f"not a regular file: {name}"
    return NOT_REGULAR


def _size_words(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 and limit % 2**20 == 0 else f"{limit:,} bytes"


def regular_size(path: Path, limit: int) -> int:
    """The size of ``path`` (symlinks followed), by ``stat`` alone: a :class:`PathProblem` when it is
    not a regular file or is larger than ``limit`` bytes. For a file read later, by someone else."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise PathProblem(path, os.strerror(exc.errno) if exc.errno else str(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise PathProblem(path, _kind(info.st_mode))
    if info.st_size > limit:
        raise PathProblem(path, f"larger than {_size_words(limit)} ({info.st_size:,} bytes)")
    return info.st_size


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, else a :class:`PathProblem` saying why.

    Opened with ``O_NONBLOCK`` (a FIFO or a device never blocks the open), then checked with
    ``fstat`` on the open file (the thing read is the thing checked: no race with a rename), refused
    by its size before anything is allocated, and read at most ``limit + 1`` bytes (a file growing
    meanwhile is still refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathProblem(path, SYMLINK_LOOP) from exc
        raise PathProblem(path, os.strerror(exc.errno) if exc.errno else str(exc)) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PathProblem(path, _kind(info.st_mode))
        if info.st_size > limit:
            raise PathProblem(path, f"larger than {_size_words(limit)} ({info.st_size:,} bytes)")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise PathProblem(path, f"larger than {_size_words(limit)} (it grew while being read)")
        return b"".join(chunks)
    except OSError as exc:
        if isinstance(exc, PathProblem):
            raise
        raise PathProblem(path, os.strerror(exc.errno) if exc.errno else str(exc)) from exc
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all: a temp file beside it,
    renamed into place, so no reader and no crash ever sees half a file. ``durable`` fsyncs before
    the rename, so what was written survives an OS crash too (state). Makes the parent folder.
    On failure the temp file is removed and the ``OSError`` goes to the caller, who words it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
