"""Per-resource field diff: desired (managed fields only) against live, after normalisation.

Only fields the user wrote are compared (ARCHITECTURE.md, "Invariants": fields left out are not managed),
and in a kind's ``partial_mappings`` only the keys the user wrote. Equal values are found with ``==`` first,
the cheap path almost every resource takes; deepdiff is used only for a changed mapping, to name the nested
keys that differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.kinds.base import Kind
from reconciler.values import Unknown

__all__ = ["FieldDiff", "Op", "diff_attrs"]

# What a field diff does (kopf's diff ops): ``add`` a field or key that was not there, ``remove``
# one, ``change`` its value. A key set to null is a ``change`` to null, not a ``remove``: the two
# differ on the wire. A top-level field set to null is a ``remove`` (ARCHITECTURE.md, "Invariants").
Op = Literal["add", "remove", "change"]


@dataclass(frozen=True, slots=True)
class FieldDiff:
    path: str
    before: Any
    after: Any
    sensitive: bool = False
    forces_replacement: str | None = None  # why, when it does
    cause: str | None = (
        None  # "config" or "drift" (engine/deciding/causes.py); a create's: the change's cause
    )
    op: Op = "change"

    @property
    def field(self) -> str:
        """The top-level field the diff is in: ``config`` for ``config.threshold``,
        ``trace_variables`` for ``trace_variables[0]``. The one place a path is taken apart."""
        return self.path.split(".", 1)[0].split("[", 1)[0]


def diff_attrs(
    kind: Kind, desired: Mapping[str, Any], live: Mapping[str, Any], sensitive: frozenset[str] = frozenset()
) -> list[FieldDiff]:
    """``sensitive``: more fields to mask than the kind's own (``Desired.sensitive``: from ${env:…})."""
    diffs: list[FieldDiff] = []
    for name, want in desired.items():
        have = live.get(name)
        if want == have:  # equal as written is equal normalised (and never UNKNOWN, equal to nothing)
            continue
        want_n, have_n = kind.normalise(name, want), kind.normalise(name, have)
        if name in kind.partial_mappings:
            want_n, have_n = _partial(want_n, have_n)
        if not isinstance(want_n, Unknown) and want_n == have_n:
            continue
        masked = name in kind.sensitive_fields or name in sensitive
        replace = kind.forces_replacement(name)
        if isinstance(want_n, Mapping) and isinstance(have_n, Mapping) and not masked:
            diffs.extend(_nested(name, have_n, want_n, replace))
        else:
            op: Op = "add" if have is None else "remove" if want is None else "change"
            diffs.append(FieldDiff(name, have, want, masked, replace, op=op))
    return diffs


def _partial(want: Any, have: Any) -> tuple[Any, Any]:
    """Only the keys the user wrote are managed; keys the API added are dropped from ``have``."""
    want = {} if want is None else want
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        have = {k: v for k, v in have.items() if k in want}
    return want, have


def _nested(
    name: str, before: Mapping[str, Any], after: Mapping[str, Any], replace: str | None
) -> list[FieldDiff]:
    from deepdiff import DeepDiff  # here: most plans never need it, and it costs ~10 ms to import

    tree = DeepDiff(dict(before), dict(after), ignore_order=True, view="tree", verbose_level=2)
    out = []
    for change_type in sorted(tree):
        for level in tree[change_type]:
            path = level.path(output_format="list")
            dotted = ".".join([name, *(str(p) for p in path)])
            op: Op = "add" if "added" in change_type else "remove" if "removed" in change_type else "change"
            old = None if op == "add" else level.t1
            new = None if op == "remove" else level.t2
            out.append(FieldDiff(dotted, old, new, False, replace, op=op))
    out.sort(key=lambda d: d.path)
    return out or [FieldDiff(name, dict(before), dict(after), False, replace)]
