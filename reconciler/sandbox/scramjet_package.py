"""Validation of uploaded Scramjet sequence packages for the hub emulator.

A package is a gzip tar with ``package.json`` and the entry file at the archive root (a real hub
answers 422 ENOENT for a package under a top folder). The emulator is stricter than the real 0.18.7
hub, which accepts a package whose ``main`` file is missing and only fails when it is started:
here that is a 422 at upload, as the documented API promises for "a bad package".

Crash marker (sandbox only): ``"scramjet": {"sandbox": {"crash": true}}`` in package.json makes every
instance of the sequence crash while loading, like a real sequence whose entry file throws.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PackageError  # the upload is not a usable package: the hub answers 422

__all__ = ["PackageError", "SequencePackage", "read_package"]

# package.json fields copied into the sequence's `config`, as a real hub does.
_CONFIG_FIELDS = ("description", "author", "keywords", "args", "repository", "license")


@dataclass(frozen=True)
class SequencePackage:
    name: str
    version: str
    main: str
    engines: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    crash: bool = False

    def config(self, sequence_id: str, sequence_dir: str) -> dict[str, Any]:
        """The `config` object of a sequence, shaped like the documented hub's."""
        return {
            "type": "process",
            "name": self.name,
            "version": self.version,
            "entrypointPath": self.main,
            "engines": dict(self.engines),
            "id": sequence_id,
            "sequenceDir": sequence_dir,
            **self.extra,
        }


def _member_name(name: str) -> str:
    """Archive path without a leading ``./`` (``tar -C dir .`` writes those)."""
    name = posixpath.normpath(name)
    return "" if name == "." else name.removeprefix("./")


def _entry_candidates(main: str) -> list[str]:
    """Files Node would load for ``main`` (``index``, ``index.js``, ``dir/index.js``)."""
    base = _member_name(main)
    return [base, f"{base}.js", f"{base}/index.js"]


def read_package(data: bytes) -> SequencePackage:
    """Parse and validate an uploaded tar.gz; raise :class:`PackageError` with a readable reason."""
    if not data:
        raise PackageError("Empty upload: expected a tar.gz sequence package")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = {_member_name(m.name): m for m in tar.getmembers()}
            manifest = members.get("package.json")
            if manifest is None or not manifest.isfile():
                raise PackageError("package.json not found at the root of the archive")
            extracted = tar.extractfile(manifest)
            raw = extracted.read() if extracted is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"Invalid pkg tar.gz archive: {exc}") from exc
    try:
        pkg = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"package.json is not valid JSON: {exc}") from exc
    if not isinstance(pkg, dict):
        raise PackageError("package.json must be a JSON object")
    for key in ("name", "main"):
        if not isinstance(pkg.get(key), str) or not pkg[key].strip():
            raise PackageError(f'package.json: "{key}" must be a non-empty string')
    files = {name for name, member in members.items() if member.isfile()}
    if not any(candidate in files for candidate in _entry_candidates(pkg["main"])):
        raise PackageError(f'package.json: main file "{pkg["main"]}" is not in the archive')
    engines: dict[str, Any] = pkg["engines"] if isinstance(pkg.get("engines"), dict) else {}
    sandbox = (pkg.get("scramjet") or {}).get("sandbox") if isinstance(pkg.get("scramjet"), dict) else None
    return SequencePackage(
        name=pkg["name"],
        version=str(pkg.get("version", "")),
        main=pkg["main"],
        engines=engines,
        extra={key: pkg[key] for key in _CONFIG_FIELDS if key in pkg},
        crash=isinstance(sandbox, dict) and sandbox.get("crash") is True,
    )
