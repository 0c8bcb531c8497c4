"""Checking a sequence package archive (.tar.gz) while streaming it, before it is trusted or uploaded.

A ready-made archive gets the rules a packed directory gets (``pack.py``), checked entry by
entry in tarfile's streaming mode, so a hostile archive is refused after reading no more than it
takes to see what is wrong, and the member list is never held in memory:

- every entry is a regular file, a directory, or a link that stays inside the package: no absolute
  path, no ``..`` component, no symlink or hardlink to outside (``/etc/passwd``), no device file,
  FIFO or other special entry, no name given twice;
- at most ``MAX_ENTRIES`` entries, ``MAX_EXPANDED_BYTES`` once decompressed, and, past
  ``RATIO_FLOOR_BYTES``, at most ``MAX_RATIO`` times the compressed size (a gzip bomb);
- the compressed file itself is at most ``MAX_ARCHIVE_BYTES`` (checked before it is read);
- package.json at the archive root (the hub needs it there), read up to ``MAX_MANIFEST_BYTES``.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from reconciler.errors import PackageError

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_ENTRIES",
    "MAX_EXPANDED_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_RATIO",
    "ArchiveProblem",
    "Checked",
    "check_archive",
]

MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 50_000
MAX_EXPANDED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024


class ArchiveProblem(PackageError):
    """What is wrong with the archive (without the file's name: the caller adds it)."""


@dataclass
class Checked:
    """What the check learnt: package.json's text, the regular files, and the archive's digest."""

    manifest: str
    files: set[str] = field(default_factory=set)
    digest: str = ""  # sha256 of every compressed byte read
    compressed: int = 0


class _Counting:
    """A read-only file wrapper counting and hashing the compressed bytes tarfile reads."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.read_bytes = 0
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.read_bytes += len(chunk)
        if self.read_bytes > MAX_ARCHIVE_BYTES:
            raise ArchiveProblem(f"larger than {MAX_ARCHIVE_BYTES // 2**20} MiB")
        self.sha.update(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def check_archive(raw: IO[bytes]) -> Checked:
    """Stream ``raw`` (a .tar.gz) once, checking every entry; ArchiveProblem says what is wrong."""
    counting = _Counting(raw)
    manifest: str | None = None
    files: set[str] = set()
    seen: set[str] = set()
    links: set[str] = set()
    entries = 0
    try:
        gz = gzip.GzipFile(fileobj=counting, mode="rb")  # type: ignore[call-overload]
        with tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                entries += 1
                if entries > MAX_ENTRIES:
                    raise ArchiveProblem(f"more than {MAX_ENTRIES:,} entries")
                # tar.offset: decompressed bytes consumed so far; the entry's size is its header's word.
                _check_size(tar.offset, tar.offset + member.size, counting.read_bytes)
                name = _entry_name(member)
                if name in seen and not member.isdir():
                    raise ArchiveProblem(f"{member.name!r} appears twice")
                _check_type(member, name, files, links)
                seen.add(name)
                if member.isfile():
                    files.add(name)
                    if name == "package.json":
                        manifest = _read_manifest(tar, member)
            consumed = tar.offset
            while chunk := gz.read(1 << 20):  # to the end: the gzip checksum, and any padding bomb
                consumed += len(chunk)
                _check_size(consumed, consumed, counting.read_bytes)
            _check_size(consumed, consumed, counting.read_bytes)
            counting.drain()  # the digest covers every byte, as uploaded
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArchiveProblem(f"not a readable .tar.gz ({exc})") from exc
    if manifest is None:
        raise ArchiveProblem("package.json is not at the root of the archive (a top folder is not allowed)")
    return Checked(manifest, files, "sha256:" + counting.sha.hexdigest(), counting.read_bytes)


def _check_size(consumed: int, expanded: int, compressed: int) -> None:
    """``expanded`` (what the headers announce) against the cap, before it is read; the ratio of
    what was actually decompressed (``consumed``) to the compressed bytes read for it."""
    if expanded > MAX_EXPANDED_BYTES:
        raise ArchiveProblem(f"expands to more than {MAX_EXPANDED_BYTES // 2**20} MiB")
    if consumed > RATIO_FLOOR_BYTES and consumed > MAX_RATIO * max(compressed, 1):
        raise ArchiveProblem(
            f"expands more than {MAX_RATIO} times its compressed size ({consumed:,} bytes from "
            f"{compressed:,}): a compression bomb?"
        )


def _entry_name(member: tarfile.TarInfo) -> str:
    """The entry's path inside the package, or ArchiveProblem when it points outside."""
    raw = member.name
    if not raw or "\x00" in raw or "\\" in raw:
        raise ArchiveProblem(f"entry {raw!r}: not a plain relative path")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveProblem(f"entry {raw!r}: absolute path")
    path = PurePosixPath(raw)
    if ".." in path.parts:
        raise ArchiveProblem(f"entry {raw!r}: a '..' component leads out of the package")
    name = str(path)
    return "" if name == "." else name.removeprefix("./")


def _check_type(member: tarfile.TarInfo, name: str, files: set[str], links: set[str]) -> None:
    """Files and folders; a symlink only downwards (relative, no ``..``: it cannot lead out, even
    through other links); a hardlink only to an earlier file; nothing stored under a symlink."""
    parents = PurePosixPath(name).parents
    under = next((str(p) for p in parents if str(p) in links), None)
    if under is not None:
        raise ArchiveProblem(f"entry {name!r}: stored under the symlink {under!r}")
    if member.isfile() or member.isdir():
        return
    target = member.linkname
    if member.issym():
        if not target or target.startswith("/") or ".." in PurePosixPath(target).parts:
            raise ArchiveProblem(f"entry {name!r}: symlink to {target!r} may lead out of the package")
        links.add(name)
        return
    if member.islnk():
        if str(PurePosixPath(target)).removeprefix("./") not in files:
            raise ArchiveProblem(
                f"entry {name!r}: hardlink to {target!r}, not an earlier file of the package"
            )
        return
    raise ArchiveProblem(f"entry {name!r}: a device, FIFO or other special file (only files, folders, links)")


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    if member.size > MAX_MANIFEST_BYTES:
        raise ArchiveProblem(f"package.json is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    extracted = tar.extractfile(member)
    return (extracted.read() if extracted else b"").decode("utf-8", errors="replace")
