"""Signaloid cloud storage: local files uploaded to the account's storage, declared like the rest.

One ``files`` resource names a local file or folder (``source``, inside the stack's folder) and
where it lives in cloud storage (``path``; a folder when it ends in ``/``). It stands for one
object per file (``Kind.expand``): ``files.<name>/<file path inside the source>``, so the plan
shows, and state records, each file; a file removed from the folder is deleted, only if the stack
uploaded it, and files under the same path that the stack did not put there are listed as
unmanaged, never touched.

A file is compared by content: its S3-style ``etag``, the quoted MD5 of its bytes (what a
single-part upload gets), computed here while reading the file in chunks, never whole.

Limits (docs/kinds.md): the rules of ``packages/tree.py`` (inside the stack's folder, ``stat``
before reading, symlinks only inside the source, no devices or FIFOs), at most ``MAX_FILES`` files
per resource, ``MAX_FILE_BYTES`` per file and ``MAX_STACK_BYTES`` for all the stack's files.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, field_validator

from reconciler.kinds.base import DeriveError, Kind, LoadContext, SpecModel
from reconciler.kinds.fields import NonEmptyStr
from reconciler.packages.tree import Caps, TreeProblem, inside, read_chunks, walk
from reconciler.values import Desired, LiveObject

__all__ = [
    "KIND",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_STACK_BYTES",
    "FilesSpec",
    "etag_of",
    "storage_path_problem",
]

MAX_FILES = 10_000
MAX_FILE_BYTES = 512 * 2**20
MAX_STACK_BYTES = 2 * 2**30
_STACK_TOTAL = "files: bytes so far"  # LoadContext.shared key: the stack-wide byte count
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def storage_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a place in cloud storage, or None. Relative to the storage root,
    ``/``-separated, no empty, ``.`` or ``..`` segment, no control characters or backslashes."""
    if path.startswith("/"):
        return "must be relative to the storage root (no leading /)"
    if _BAD_CHARS.search(path):
        return "must not hold control characters or backslashes"
    segments = path.removesuffix("/").split("/")
    if any(s in ("", ".", "..") for s in segments):
        return "must not have empty, '.' or '..' segments"
    return None


class FilesSpec(SpecModel):
    """Local files kept in the account's cloud storage (each file compared by content)."""

    source: NonEmptyStr = Field(description="a file or folder inside this stack file's folder")
    path: NonEmptyStr = Field(
        description="where it lives in cloud storage, relative to the root; a folder ends in `/` "
        "(a folder source needs one)"
    )

    @field_validator("path")
    @classmethod
    def _storage_path(cls, value: str) -> str:
        problem = storage_path_problem(value)
        if problem:
            raise ValueError(f"a cloud-storage path {problem}")
        return value


def etag_of(chunks: Any) -> str:
    """The quoted MD5 of the bytes, as S3 (and so Signaloid) reports a single-part upload."""
    md5 = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        md5.update(chunk)
    return f'"{md5.hexdigest()}"'


def _expand(name: str, attrs: Mapping[str, Any], ctx: LoadContext) -> list[tuple[str, dict[str, Any]]]:
    written, target = str(attrs["source"]), str(attrs["path"])
    try:
        root = inside(ctx.base_dir, written)
        if not root.exists():
            raise DeriveError(f"source {written!r}: no such file or folder", "source")
        is_folder = root.is_dir()
        if is_folder and not target.endswith("/"):
            raise DeriveError(
                f"source {written!r} is a folder, so path must be a folder too: write {target + '/'!r}",
                "path",
            )
        entries = walk(root, Caps(MAX_FILES, MAX_FILE_BYTES, MAX_STACK_BYTES, "files source"))
        members: list[tuple[str, dict[str, Any]]] = []
        total = ctx.shared.get(_STACK_TOTAL, 0)
        for entry in entries:
            if entry.is_dir:
                continue
            total += entry.size
            if total > MAX_STACK_BYTES:
                raise DeriveError(
                    f"the stack's files add up to more than {MAX_STACK_BYTES // 2**30} GiB (the stack's cap)",
                    "source",
                )
            storage = target + entry.rel if target.endswith("/") else target
            problem = storage_path_problem(storage)
            if problem:  # a local name storage cannot hold (a control character, a backslash)
                raise DeriveError(
                    f"source {written!r}: the file {entry.rel!r} cannot be stored: its path {problem}",
                    "source",
                )
            shown = os.path.relpath(root / entry.rel if is_folder else root, ctx.base_dir)
            members.append(
                (
                    entry.rel,
                    {
                        "source": shown,
                        "path": storage,
                        "size": entry.size,
                        "etag": etag_of(read_chunks(entry)),
                        "source_file": str(entry.path),
                        "scope": target,
                    },
                )
            )
        ctx.shared[_STACK_TOTAL] = total
    except TreeProblem as exc:
        raise DeriveError(f"source {exc}", "source") from None
    return members


def _key(name: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    return (str(attrs.get("path") or ""),)


def _declared_scopes(declared: list[Desired]) -> Callable[[LiveObject], bool]:
    """Unmanaged files worth listing: those under a path the stack declares (not the whole account)."""
    scopes = tuple({str(d.attrs.get("scope", "")) for d in declared})

    def within(obj: LiveObject) -> bool:
        path = obj.remote_id
        return any(path.startswith(s) if s.endswith("/") else path == s for s in scopes)

    return within


KIND = Kind(
    name="files",
    provider="signaloid",
    spec=FilesSpec,
    summary="Signaloid cloud-storage files: a local file or folder kept in the account's storage",
    natural_key=_key,
    key_doc="(path): the file's place in cloud storage",
    local_fields=frozenset({"source", "source_file", "scope"}),
    expand=_expand,
    unmanaged_scope=_declared_scopes,
    inventory=False,
    not_exportable="a file is declared with its local source, and export does not download files; "
    "declare the folder with `source:` and `path:` and `plan` finds the files already there",
    no_create_before_destroy_reason="a storage path holds one file",
)
