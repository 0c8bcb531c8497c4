"""Scramjet sequence packages: pack a directory deterministically, or read a ready .tar.gz. No HTTP.

A package is a gzip tar with ``package.json`` and the entry file at the archive root (a real hub
answers 422 for a package under a top folder). Packing a directory gives the same bytes for the same
files, wherever and whenever it runs: entries sorted, mtime 0, owner 0:0, fixed modes (0644, or 0755
for executables), no gzip timestamp or file name. So the digest (sha256 of those bytes) names the
content, and a changed package is a changed digest.

Left out of a packed directory: ``.git/``, ``node_modules/.cache/``, ``.reconciler/``, and what the
root ``.npmignore`` excludes, or, without one, the root ``.gitignore`` (as npm does), read with
``pathspec``'s gitignore rules (comments, ``!`` negation, anchoring, folders, ``**``, escapes, the
last matching pattern wins). What may be read, and how much, follows ``tree.py`` (the rules every
local folder the stack names gets): symlinks only inside the package, no devices or FIFOs, sizes
checked with ``stat`` before reading.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from reconciler.common.paths import PathProblem
from reconciler.common.paths import read_capped as read_file_capped
from reconciler.errors import PackageError
from reconciler.packages.archive import ArchiveProblem, check_archive
from reconciler.packages.tree import Caps, LocalEntry, read_capped, walk

if TYPE_CHECKING:
    from pathspec import PathSpec

__all__ = ["Package", "PackageError", "load_package", "pack_directory"]

MAX_PACKAGE_BYTES = 256 * 1024 * 1024
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
        try:  # read whole: a regular file, never blocking, capped (common/paths.py)
            text = read_file_capped(manifest, MAX_PACKAGE_BYTES).decode("utf-8", errors="replace")
        except PathProblem as exc:
            raise PackageError(str(exc)) from None
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
            patterns.extend(ignore.read_text(encoding="utf-8", errors="replace").splitlines())
            break
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _excluded(rel: str, is_dir: bool, rules: PathSpec) -> bool:
    """Whether ``rel`` (a path inside the package) is ignored; a folder is asked with its ``/``."""
    return rules.match_file(f"{rel}/" if is_dir else rel)


def _walk(root: Path) -> list[LocalEntry]:
    """Everything to pack, sorted, checked by the rules every local folder gets (``tree.py``)."""
    rules = _rules(root)
    caps = Caps(MAX_FILES, MAX_PACKAGE_BYTES, MAX_PACKAGE_BYTES, "package")
    return walk(root, caps, lambda rel, is_dir: rel != "package.json" and _excluded(rel, is_dir, rules))


def pack_directory(root: Path) -> bytes:
    """The directory as a deterministic tar.gz, package.json at the archive root."""
    if not (root / "package.json").is_file():
        raise PackageError(f"{root}: no package.json in this directory")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in _walk(root):
            info = tarfile.TarInfo(entry.rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if entry.is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = read_capped(entry)
            info.size = len(data)
            info.mode = 0o755 if entry.executable else 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
