"""Why each field differs: the YAML changed (``config``) or the live object moved (``drift``).

Apply records, per resource, a digest of each field as it applied it
(``StateEntry.applied_fields``; sensitive fields left out). At plan time a field whose declared
value still has the recorded digest was not edited in the YAML, so its difference is drift: the
live object was changed outside. One change can hold both (``precision`` edited in the YAML while
``memory_size`` was changed on the API), and each field says which. State written before these
digests existed (or a field without one) falls back to the whole-resource digest: unchanged YAML
means drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from reconciler.engine.deciding.changes import Cause
from reconciler.engine.deciding.diff import FieldDiff
from reconciler.state.base import StateEntry, digest

__all__ = ["attribute", "field_digests"]


def field_digests(attrs: Mapping[str, Any], sensitive: Collection[str]) -> dict[str, str]:
    """Per declared field, a short digest of its value as applied (no digest of a secret)."""
    return {name: digest({"v": value})[7:23] for name, value in attrs.items() if name not in sensitive}


def attribute(
    fields: tuple[FieldDiff, ...], attrs: Mapping[str, Any], entry: StateEntry | None, adopted: bool
) -> tuple[tuple[FieldDiff, ...], Cause]:
    """``fields`` each with its cause, and the change's cause: config if any field's is."""
    if entry is None or adopted:  # never applied by this stack: every difference is configuration
        return tuple(dataclasses.replace(f, cause=Cause.CONFIG.value) for f in fields), Cause.CONFIG
    applied = entry.applied_fields
    unchanged_yaml = entry.digest == digest(attrs)
    out = []
    for f in fields:
        top = f.field
        if unchanged_yaml or top not in attrs:  # not declared (a name the API holds): only live moves it
            moved = True
        elif top in applied:
            moved = applied[top] == field_digests({top: attrs[top]}, ())[top]
        else:
            moved = False  # a field added to the YAML, or no per-field record: the YAML changed
        out.append(dataclasses.replace(f, cause=(Cause.DRIFT if moved else Cause.CONFIG).value))
    cause = Cause.CONFIG if any(f.cause == Cause.CONFIG.value for f in out) else Cause.DRIFT
    return tuple(out), cause
