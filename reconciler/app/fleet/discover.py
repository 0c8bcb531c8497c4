"""Finding the stacks of a fleet, and the stable subset one shard of N checks.

A **stack** is a folder holding stack files (``*.yaml`` / ``*.yml``) directly. Under each
``--stacks DIR`` every such folder is one stack; the folders inside a stack belong to it (package
directories, say) and are not searched. Hidden folders (``.reconciler``, ``.git``) are skipped.

**Sharding**: a stack belongs to shard ``I`` of ``N`` (``I`` from 0, as Kubernetes'
``JOB_COMPLETION_INDEX``) when ``sha256(its path relative to DIR, POSIX form) as a big-endian
integer of its first 8 bytes, mod N == I``. That depends on nothing but the path, so every machine
computes the same split, and the N shards partition the fleet exactly (each stack in one shard).
The path is hashed as the bytes the file system holds (UTF-8 for a UTF-8 name), so a folder name
that is not UTF-8 has a shard like any other.

**What cannot be read is reported, never skipped**: a folder that cannot be listed (no
permission, say) may hold stacks, so it is a :class:`StackRef` with a ``problem`` (the OS's
reason), which the fleet reports as an errored stack. A ``name`` is shown as
``reconciler.common.escape.shown`` writes it: a byte that is not UTF-8 as ``\\xNN``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.common.escape import shown
from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["Shard", "StackRef", "discover", "in_shard", "parse_shard", "shard_of"]

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, order=True)
class StackRef:
    """One stack of the fleet: ``name`` (DIR as given + relative path, shown) names it in reports;
    ``relative`` is the path as the file system has it (what the shard hash reads). ``problem``: why
    this folder could not be searched (then it is reported as errored, not checked)."""

    name: str
    relative: str
    path: Path
    problem: str | None = None


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``I/N`` with 0 <= I < N; a ValueError saying what was expected otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"expected I/N (e.g. 0/4, shard I of N counted from 0), got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise ValueError(f"expected 0 <= I < N in I/N, got {text!r}")
    return Shard(index, count)


def shard_of(relative: str, count: int) -> int:
    """The shard (0..count-1) of a stack, from its path relative to its DIR."""
    digest = hashlib.sha256(os.fsencode(relative)).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(stacks: list[StackRef], shard: Shard | None) -> list[StackRef]:
    """The stacks of ``shard`` (all of them for None)."""
    if shard is None:
        return stacks
    return [s for s in stacks if shard_of(s.relative, shard.count) == shard.index]


def discover(roots: list[Path]) -> list[StackRef]:
    """Every stack under ``roots``, and every folder that could not be searched, sorted by name;
    none at all is an error (a mistyped DIR)."""
    found: dict[tuple[str, str], StackRef] = {}
    for root in roots:
        if not root.is_dir():
            raise ConfigError(ConfigIssue("--stacks needs a directory; this is not one", file=str(root)))
        for folder, problem in _stack_folders(root):
            relative = PurePosixPath(*folder.relative_to(root).parts).as_posix()
            name = PurePosixPath(*(root / relative).parts).as_posix() if relative != "." else root.as_posix()
            found.setdefault((root.as_posix(), relative), StackRef(shown(name), relative, folder, problem))
    if not found:
        where = ", ".join(str(r) for r in roots)
        raise ConfigError(ConfigIssue("no stacks here (no folder holding *.yaml or *.yml files)", file=where))
    return sorted(found.values())


def _stack_folders(root: Path) -> list[tuple[Path, str | None]]:
    """(folder, None) per stack; (folder, the OS's reason) per folder that could not be listed."""
    folders: list[tuple[Path, str | None]] = []

    def unreadable(exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        folders.append((Path(exc.filename) if exc.filename else root, f"cannot list this folder: {reason}"))

    for current, dirs, files in os.walk(root, onerror=unreadable):  # symlinked folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if any(f.endswith(_SUFFIXES) and not f.startswith(".") for f in files):
            folders.append((Path(current), None))
            dirs[:] = []  # a stack's own folders belong to it
    return folders
