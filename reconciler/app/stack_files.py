"""Which files make a stack, checked against what its state holds.

State lives beside the first ``-f`` (``config.stack_root``). So ``plan -f a.yaml -f b.yaml``
then ``plan -f a.yaml`` reads the same state, and b.yaml's resources look "no longer declared":
the plan would delete them (a few, under the mass-delete guard). ``declared_beside`` finds the
stack files that still declare such resources: those beside the loaded ones, and those the stack
was last applied with (``remember_files`` keeps that list beside local state, ``stack-files.json``:
``plan -f team-a -f team-b`` then ``plan -f team-a`` names team-b's files even in another folder);
the session refuses the plan, naming them (docs/state.md).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.common.paths import PathProblem, read_capped, write_atomic
from reconciler.config import LoadedStack
from reconciler.config.loader import load_file
from reconciler.errors import ReconcilerError
from reconciler.kinds import KINDS_BY_NAME
from reconciler.state import StateStore
from reconciler.state.local import LocalStateStore

__all__ = ["applied_with", "declared_beside", "files_problem", "remember_files"]

RECORD = "stack-files.json"
MAX_RECORD_BYTES = 1 << 20  # a list of file names; a stack of 10,000 files is ~1 MiB


def _neighbours(loaded: LoadedStack) -> list[Path]:
    """Stack files (``*.yaml``/``*.yml``) in the folders of the loaded ones, not loaded themselves;
    named as the user named those folders."""
    loaded_files = {p.resolve() for p in loaded.files}
    folders = {f.resolve(): f for f in reversed([loaded.root, *(p.parent for p in loaded.files)])}
    found = []
    for folder in sorted(folders.values()):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        found += [
            p
            for p in entries
            if p.suffix in (".yaml", ".yml") and p.is_file() and p.resolve() not in loaded_files
        ]
    return found


def _record_path(store: StateStore) -> Path | None:
    """Where the list of the files a stack was last applied with is kept: beside local state (the
    state that lives beside the first ``-f``); None for a backend that names its stack itself."""
    return store.path.with_name(RECORD) if isinstance(store, LocalStateStore) else None


def remember_files(loaded: LoadedStack, store: StateStore) -> None:
    """Keep the files this stack is applied with (relative to its root), for the next plan's check.
    Best effort: a folder that cannot take the file only loses that check."""
    record = _record_path(store)
    if record is None:
        return
    root = loaded.root.resolve()
    files = sorted({os.path.relpath(p.resolve(), root) for p in loaded.files})
    with contextlib.suppress(OSError):
        write_atomic(record, json.dumps({"format_version": 1, "files": files}, indent=1))


def applied_with(loaded: LoadedStack, store: StateStore) -> list[Path]:
    """The files the stack was last applied with that this run did not load and that still exist.
    A record that is missing, unreadable or not of this shape says nothing (the check is advisory)."""
    record = _record_path(store)
    if record is None or not os.path.lexists(record):
        return []
    try:
        doc = json.loads(read_capped(record, MAX_RECORD_BYTES))
    except (PathProblem, OSError, ValueError, RecursionError):
        return []
    names = doc.get("files") if isinstance(doc, dict) and doc.get("format_version") == 1 else None
    if not isinstance(names, list):
        return []
    loaded_files = {p.resolve() for p in loaded.files}
    found = []
    for name in names:
        if not isinstance(name, str) or not name or "\0" in name:
            continue
        path = loaded.root / name
        if path.resolve() not in loaded_files and path.is_file():
            found.append(Path(os.path.normpath(path)))
    return found


def declared_beside(
    loaded: LoadedStack, addresses: Iterable[str], environ: Mapping[str, str], also: Iterable[Path] = ()
) -> dict[str, Path]:
    """Of ``addresses``, those a stack file beside the loaded ones (or one of ``also``: the files
    the stack was last applied with) declares, with that file. A file that does not load (not a
    stack file, a missing variable) declares nothing."""
    wanted = set(addresses)
    found: dict[str, Path] = {}
    candidates = list(dict.fromkeys([*_neighbours(loaded), *also])) if wanted else []
    for path in candidates:
        try:
            data = load_file(path, environ).data
        except (ReconcilerError, OSError):
            continue
        if not isinstance(data, dict):
            continue
        for kind in KINDS_BY_NAME:
            section = data.get(kind)
            if isinstance(section, dict):
                for name in section:
                    address = f"{kind}.{name}"
                    if address in wanted:
                        found.setdefault(address, path)
    return found


def files_problem(declared: Mapping[str, Path], loaded: LoadedStack, state: str) -> str | None:
    """Why the plan is refused, when resources it would delete are declared beside the stack, or in
    files it was last applied with."""
    if not declared:
        return None
    neighbours = {p.resolve() for p in _neighbours(loaded)}
    apart = any(p.resolve() not in neighbours for p in declared.values())
    beside = "last applied with this stack," if apart else "beside this stack's files"
    files = sorted({str(p) for p in declared.values()})
    addresses = sorted(declared)
    shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3 else "")
    them = "it" if len(addresses) == 1 else "them"
    where = ", ".join(files)
    every = " ".join([*(f"-f {p}" for p in loaded.files), *(f"-f {f}" for f in files)])
    return (
        f"this plan would delete {shown} as no longer declared, but {where} {beside} "
        f"still {'declares' if len(files) == 1 else 'declare'} {them}: the state ({state}) holds what "
        f"{'that file' if len(files) == 1 else 'those files'} declared too. Plan with every file of the "
        f"stack ({every}), or, to delete {them}, remove {them} from {where} first"
    )
