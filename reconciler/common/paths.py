"""Filesystem paths: resolve them with the same outcome, and the same words, on every supported
Python; write a file whole or not at all (:func:`write_atomic`, the one copy of that dance).

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
import tempfile
from pathlib import Path

__all__ = ["SYMLINK_LOOP", "PathProblem", "resolve", "write_atomic"]

SYMLINK_LOOP = "a symlink loop (a symbolic link that leads back to itself)"


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
