"""Scramjet sequence packages: pack a directory deterministically, or read a ready .tar.gz. No HTTP.

A package is a gzip tar with ``package.json`` and the entry file at the archive root (a real hub
answers 422 for a package under a top folder). Packing a directory gives the same bytes for the same
files, wherever and whenever it runs: entries sorted, mtime 0, owner 0:0, fixed modes (0644, or 0755
for executables), no gzip timestamp or file name. So the digest (sha256 of those bytes) names the
content, and a changed package is a changed digest.

Left out of a packed directory: ``.git/``, ``node_modules/.cache/``, ``.reconciler/``, and what the
root ``.npmignore`` excludes, or, without one, the root ``.gitignore`` (as npm does), read with
``pathspec``'s gitignore rules (comments, ``!`` negation, anchoring, folders, ``**``, escapes, the
last matching pattern wins). Symlinks are followed when they stay inside the package; one that
leads out of it, or a loop, is an error.

Sizes are checked with ``stat`` before any file is read: a package whose files add up to more than
256 MiB (a sparse 600 MB file, say) is refused having read nothing; each file is then read with
``read_capped`` (a regular file, never blocking, at most what is left of the limit).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from reconciler.common.paths import SYMLINK_LOOP, PathProblem, read_capped, regular_size, resolve
from reconciler.errors import PackageError
from reconciler.packages.archive import ArchiveProblem, check_archive

if TYPE_CHECKING:
    from pathspec import PathSpec

__all__ = ["Package", "PackageError", "load_package", "pack_directory"]

MAX_PACKAGE_BYTES = 256 * 1024 * 1024
MAX_TEXT_BYTES = 16 * 1024 * 1024  # package.json, .npmignore, .gitignore: read whole, so capped
MAX_FILES = 50_000
ALWAYS_EXCLUDED = (".git/", "node_modules/.cache/", ".reconciler/", ".npmignore", ".gitignore")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    main: str
    data: bytes  # the tar.gz as uploaded
    digest: str  # "sha256:<hex>" of ``data``
    name_line: int | None = None  # line of "name" in package.json, when packed from a directory


def load_package(path: Path) -> Package:
    """Pack a directory, or read a ``.tar.gz``; validate it either way (``archive.py``)."""
    if path.is_dir():
        data = pack_directory(path)
        manifest = path / "package.json"
        text = _read_text(manifest)
        _, files, _ = _read_archive(io.BytesIO(data), path)
        return _validate(text, files, str(manifest), data, _line_of(text, '"name"'))
    if not path.is_file():
        raise PackageError(f"{path}: no such directory or file")
    if not path.name.endswith((".tar.gz", ".tgz")):
        raise PackageError(f"{path}: a package is a directory or a .tar.gz file")
    if path.stat().st_size > MAX_PACKAGE_BYTES:
        raise PackageError(f"{path}: larger than {MAX_PACKAGE_BYTES // 2**20} MiB")
    with path.open("rb") as fh:
        text, files, checked_digest = _read_archive(fh, path)
        fh.seek(0)
        data = fh.read(MAX_PACKAGE_BYTES + 1)
    if "sha256:" + hashlib.sha256(data).hexdigest() != checked_digest:
        raise PackageError(f"{path}: changed while it was being read; try again")
    return _validate(text, files, f"{path}!package.json", data, None)


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def _read_archive(raw: IO[bytes], path: Path) -> tuple[str, set[str], str]:
    """package.json's text, the archive's regular files and its digest, checked while streaming."""
    try:
        checked = check_archive(raw)
    except ArchiveProblem as exc:
        raise PackageError(f"{path}: {exc}") from exc
    return checked.manifest, checked.files, checked.digest


def _member_name(name: str) -> str:
    name = str(PurePosixPath(name))
    return "" if name == "." else name.removeprefix("./")


def _validate(text: str, files: set[str], where: str, data: bytes, name_line: int | None) -> Package:
    try:
        manifest: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackageError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise PackageError(f"{where}: values nested too deeply") from exc
    if not isinstance(manifest, dict):
        raise PackageError(f"{where}: must be a JSON object")
    for key in ("name", "main"):
        if not isinstance(manifest.get(key), str) or not manifest[key].strip():
            raise PackageError(f'{where}: "{key}" must be a non-empty string (the hub needs it)')
    main = manifest["main"]
    base = _member_name(main)
    if not any(c in files for c in (base, f"{base}.js", f"{base}/index.js")):
        raise PackageError(f'{where}: the entry file "{main}" ("main") is not in the package')
    version = manifest.get("version", "")
    return Package(
        name=manifest["name"],
        version=str(version) if version is not None else "",
        main=main,
        data=data,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        name_line=name_line,
    )


# --- packing ------------------------------------------------------------------------------------


def _rules(root: Path) -> PathSpec:
    import pathspec  # only when packing: not on every command's start-up path

    patterns = list(ALWAYS_EXCLUDED)
    for name in (".npmignore", ".gitignore"):
        ignore = root / name
        if ignore.is_file():
            patterns.extend(_read_text(ignore).splitlines())
            break
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _excluded(rel: str, is_dir: bool, rules: PathSpec) -> bool:
    """Whether ``rel`` (a path inside the package) is ignored; a folder is asked with its ``/``."""
    return rules.match_file(f"{rel}/" if is_dir else rel)


def _walk(root: Path) -> list[tuple[str, Path, bool]]:
    """(archive path, real path, is_dir) of everything to pack, sorted, symlinks checked."""
    real_root = _resolve(root, root)
    rules = _rules(root)
    found: list[tuple[str, Path, bool]] = []
    seen_dirs = {real_root}

    def visit(folder: Path, rel_folder: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            rel = f"{rel_folder}{entry.name}"
            real = _resolve(entry, root) if entry.is_symlink() else entry
            if real != entry and real != real_root and real_root not in real.parents:
                raise PackageError(f"{entry}: symlink leads out of the package ({real})")
            is_dir = real.is_dir()
            if rel != "package.json" and _excluded(rel, is_dir, rules):
                continue
            if is_dir:
                key = real.resolve()
                if key in seen_dirs:
                    raise PackageError(f"{entry}: symlink loop (leads back to {key})")
                seen_dirs.add(key)
                found.append((rel, real, True))
                visit(real, rel + "/")
                seen_dirs.discard(key)
            elif real.is_file():
                found.append((rel, real, False))
            if len(found) > MAX_FILES:
                raise PackageError(f"{root}: more than {MAX_FILES:,} files (is node_modules excluded?)")

    visit(root, "")
    return found


def _resolve(path: Path, root: Path) -> Path:
    try:
        return resolve(path, strict=True)
    except PathProblem as exc:
        if exc.reason == SYMLINK_LOOP:
            raise PackageError(str(exc)) from exc
        raise PackageError(f"{path}: cannot read ({exc.reason}) in package {root}") from exc


def pack_directory(root: Path) -> bytes:
    """The directory as a deterministic tar.gz, package.json at the archive root."""
    if not (root / "package.json").is_file():
        raise PackageError(f"{root}: no package.json in this directory")
    entries = _walk(root)
    total = 0
    for _rel, real, is_dir in entries:  # every size by stat, before any file is read
        if not is_dir:
            total += _size(real, root)
            if total > MAX_PACKAGE_BYTES:
                raise PackageError(f"{root}: more than {MAX_PACKAGE_BYTES // 2**20} MiB to pack")
    raw = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, real, is_dir in entries:
            info = tarfile.TarInfo(rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = _read(real, MAX_PACKAGE_BYTES - total, root)
            total += len(data)
            if total > MAX_PACKAGE_BYTES:
                raise PackageError(f"{root}: more than {MAX_PACKAGE_BYTES // 2**20} MiB to pack")
            info.size = len(data)
            info.mode = 0o755 if os.stat(real).st_mode & stat.S_IXUSR else 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _size(path: Path, root: Path) -> int:
    try:
        return regular_size(path, MAX_PACKAGE_BYTES)
    except PathProblem as exc:
        if exc.reason.startswith("larger than"):
            raise PackageError(
                f"{root}: more than {MAX_PACKAGE_BYTES // 2**20} MiB to pack ({exc})"
            ) from None
        raise PackageError(f"{exc} (in package {root})") from None


def _read(path: Path, limit: int, root: Path) -> bytes:
    try:
        return read_capped(path, limit)
    except PathProblem as exc:  # it changed since it was measured
        raise PackageError(f"{exc} (in package {root})") from None


def _read_text(path: Path) -> str:
    try:
        return read_capped(path, MAX_TEXT_BYTES).decode("utf-8", errors="replace")
    except PathProblem as exc:
        raise PackageError(str(exc)) from None
