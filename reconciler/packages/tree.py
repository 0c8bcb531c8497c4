"""Reading a folder of the user's files (a sequence package, cloud-storage files): the rules, once.

Both a package (``pack.py``) and a ``files`` resource (``kinds/files.py``) read local files named
by the stack, so both take the same rules, written here:

- the source must lie inside the stack's folder (:func:`inside`), after following symlinks;
- each entry is ``lstat``-ed before anything is read; a symlink is followed only when it stays
  inside the root being walked (one that leads out, or a loop, is refused);
- only regular files and folders: a device, FIFO or socket is refused (reading a FIFO blocks
  forever, a device never ends);
- the caps (entries, bytes per file, bytes in all) are checked on the sizes ``stat`` reports,
  before a byte is read; a reader then reads at most that size plus one, so a file that grows
  meanwhile is seen as changed rather than read without end (:func:`read_capped`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.common.paths import SYMLINK_LOOP, PathProblem, resolve
from reconciler.errors import PackageError

__all__ = ["Caps", "LocalEntry", "TreeProblem", "inside", "read_capped", "read_chunks", "walk"]


class TreeProblem(PackageError):
    """A local file or folder the stack names cannot be used as it is (the message says why)."""


@dataclass(frozen=True)
class Caps:
    entries: int
    file_bytes: int
    total_bytes: int
    what: str = "folder"  # how an error names the root: "package", "files source"


@dataclass(frozen=True)
class LocalEntry:
    rel: str  # path inside the root, ``/``-separated; a single-file root: its own name
    path: Path  # the real path (symlinks followed)
    is_dir: bool
    size: int  # bytes, from stat (0 for a folder)
    executable: bool


def inside(base_dir: Path, written: str) -> Path:
    """``written`` (relative to ``base_dir``) resolved, which must stay inside ``base_dir``."""
    try:
        path = resolve(base_dir / written)
    except PathProblem as exc:
        raise TreeProblem(f"{written!r} cannot be followed: {exc.reason}") from None
    if path != base_dir and base_dir not in path.parents:
        raise TreeProblem(f"{written!r} is outside the stack's folder {base_dir}; keep it beside the stack")
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def walk(root: Path, caps: Caps, excluded: Callable[[str, bool], bool] | None = None) -> list[LocalEntry]:
    """Every file and folder under ``root`` (or ``root`` itself, a file), sorted, checked as the
    module docstring says. ``excluded(rel, is_dir)`` leaves an entry (and a folder's contents) out."""
    real_root = _real(root, root)
    found: list[LocalEntry] = []
    total = 0

    def add(entry: Path, rel: str, real: Path) -> bool:
        nonlocal total
        info = os.stat(real)
        if stat.S_ISDIR(info.st_mode):
            found.append(LocalEntry(rel, real, True, 0, False))
        elif stat.S_ISREG(info.st_mode):
            if info.st_size > caps.file_bytes:
                raise TreeProblem(
                    f"{entry}: {info.st_size:,} bytes, more than the {_mib(caps.file_bytes)} cap per file"
                )
            total += info.st_size
            if total > caps.total_bytes:
                raise TreeProblem(f"{root}: more than {_mib(caps.total_bytes)} in the {caps.what}")
            found.append(LocalEntry(rel, real, False, info.st_size, bool(info.st_mode & stat.S_IXUSR)))
        else:
            raise TreeProblem(f"{entry}: a device, FIFO or socket; only regular files and folders are read")
        if len(found) > caps.entries:
            raise TreeProblem(f"{root}: more than {caps.entries:,} files in the {caps.what}")
        return stat.S_ISDIR(info.st_mode)

    if not stat.S_ISDIR(os.stat(real_root).st_mode):
        add(root, root.name, real_root)
        return found
    seen_dirs = {real_root}

    def visit(folder: Path, rel_folder: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            rel = f"{rel_folder}{entry.name}"
            real = _real(entry, root) if entry.is_symlink() else entry
            if real != entry and real != real_root and real_root not in real.parents:
                raise TreeProblem(f"{entry}: symlink leads out of the {caps.what} ({real})")
            mode = os.stat(real).st_mode
            if excluded is not None and excluded(rel, stat.S_ISDIR(mode)):
                continue
            if add(entry, rel, real):
                key = real.resolve()
                if key in seen_dirs:
                    raise TreeProblem(f"{entry}: symlink loop (leads back to {key})")
                seen_dirs.add(key)
                visit(real, rel + "/")
                seen_dirs.discard(key)

    visit(root, "")
    return found


def _real(path: Path, root: Path) -> Path:
    try:
        return resolve(path, strict=True)
    except PathProblem as exc:
        if exc.reason == SYMLINK_LOOP:
            raise TreeProblem(str(exc)) from exc
        raise TreeProblem(f"{path}: cannot read ({exc.reason}) in {root}") from exc


def read_capped(entry: LocalEntry) -> bytes:
    """The whole file, when it still has the size it was walked with (else :class:`TreeProblem`)."""
    return b"".join(read_chunks(entry))


def read_chunks(entry: LocalEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The file in chunks, opened without blocking and without following a link (a FIFO or a
    symlink swapped in after the walk must not hang or redirect the reader), read up to its walked
    size plus one byte: a file that changed size meanwhile is refused."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(entry.path, flags)
    except OSError as exc:
        raise TreeProblem(f"{entry.path}: cannot read ({os.strerror(exc.errno or 0)})") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise TreeProblem(f"{entry.path}: no longer a regular file")
        left, read = entry.size + 1, 0
        while left > 0:
            data = fh.read(min(chunk, left))
            if not data:
                break
            read += len(data)
            left -= len(data)
            yield data
    if read != entry.size:
        raise TreeProblem(
            f"{entry.path}: changed while it was being read ({read:,} bytes, not {entry.size:,}); try again"
        )
