"""Many like changes of one expanded resource (a folder's files) shown as one summary.

A ``files`` resource stands for one object per file (``Kind.expand``), so a folder of 5,000 files
is 5,000 changes. The plan JSON keeps every one (CI reads it); text and Markdown show, per resource
and action, more than ``SUMMARY_OVER`` changes as one block: how many, how many bytes (the
``size`` field), and the first ``FIRST_PATHS`` addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.kinds import KINDS

__all__ = ["FIRST_PATHS", "SUMMARY_OVER", "Summary", "summarised"]

SUMMARY_OVER = 10
FIRST_PATHS = 5
# Kinds whose resources stand for many objects, addressed "<kind>.<name>/<member>".
_EXPANDED = frozenset(k.name for k in KINDS if k.expand is not None)


@dataclass
class Summary:
    """Like changes of one expanded resource: ``address`` is the resource (``files.model-inputs``)."""

    address: str
    action: str
    members: list[str] = field(default_factory=list)
    size: int = 0

    def line(self) -> str:
        count = len(self.members)
        noun = "file" if count == 1 else "files"
        verb = {"create": "to upload", "update": "to upload again (changed)", "delete": "to delete"}.get(
            self.action, f"to {self.action}"
        )
        size = f", {_bytes(self.size)}" if self.size else ""
        return f"{self.address}: {count} {noun} {verb}{size}"

    def first(self) -> str:
        more = len(self.members) - FIRST_PATHS
        shown = ", ".join(self.members[:FIRST_PATHS])
        return shown + (f", … and {more} more (every one in --format json)" if more > 0 else "")


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n:,} bytes"


def _size(change: Mapping[str, Any]) -> int:
    for f in change.get("fields", ()):
        if f.get("path") == "size":
            value = f.get("after") if change["action"] != "delete" else f.get("before")
            return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return 0


def summarised(changes: list[Mapping[str, Any]]) -> list[Mapping[str, Any] | Summary]:
    """``changes`` in order, each run of more than ``SUMMARY_OVER`` like changes (one expanded
    resource, one action, no refusal) replaced, at the place of its first, by a :class:`Summary`."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for change in changes:
        key = _group(change)
        if key is not None:
            groups.setdefault(key, []).append(change)
    big = {key for key, members in groups.items() if len(members) > SUMMARY_OVER}
    out: list[Mapping[str, Any] | Summary] = []
    placed: set[tuple[str, str]] = set()
    for change in changes:
        key = _group(change)
        if key is None or key not in big:
            out.append(change)
            continue
        if key in placed:
            continue
        placed.add(key)
        members = groups[key]
        out.append(Summary(key[0], key[1], [c["address"] for c in members], sum(map(_size, members))))
    return out


def _group(change: Mapping[str, Any]) -> tuple[str, str] | None:
    kind, _, name = str(change.get("address", "")).partition(".")
    if kind not in _EXPANDED or "/" not in name or change.get("refused") or change.get("moved_from"):
        return None
    if change["action"] not in ("create", "update", "delete"):
        return None
    return f"{kind}.{name.split('/', 1)[0]}", change["action"]
