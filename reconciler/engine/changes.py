"""The plan's values: what happens (:class:`Action`), what changed (:class:`Cause`) and why this
action (:class:`Reason`), one :class:`Change` per resource, and the :class:`Plan` with its
versioned JSON (``Plan.to_json()``), which every renderer and the saved-plan file read.
Apply-only data (the desired resource, the live object) rides along on each change but is never
serialised. ``engine/plan.py`` makes these values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.engine.diff import FieldDiff
from reconciler.values import Desired, LiveObject, Ref, Unknown

__all__ = ["FORMAT_VERSION", "SENSITIVE_CHANGED", "Action", "Cause", "Change", "Plan", "Reason"]

FORMAT_VERSION = "1"
SENSITIVE_CHANGED = "(sensitive, changed)"


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"


class Cause(enum.StrEnum):
    NEW = "new"  # declared, not there yet
    CONFIG = "config"  # the YAML changed since the last apply
    DRIFT = "drift"  # the live object changed (or vanished) outside the tool
    REMOVED = "removed"  # no longer declared


class Reason(enum.StrEnum):
    """Why a change has its action, as a closed set (OpenTofu's ``ActionReason``): ``Change.reason``
    says the same in words, for people. ``adopt``, ``moved_from`` and ``refused`` stay flags on
    the change: an adopted or renamed resource can still be updated, a refused one still planned."""

    NOT_FOUND = "not_found"  # create: declared, not found live
    DELETED_OUTSIDE = "deleted_outside"  # create: state knew it, it is gone: created again
    CHANGED = "changed"  # update: managed fields differ (``cause``: config or drift)
    CANNOT_UPDATE = "cannot_update"  # replace: a changed field cannot be updated in place
    TAINTED = "tainted"  # replace: the live object cannot work as it is (``Kind.tainted``)
    NOT_DECLARED = "not_declared"  # delete: in state, no longer in the configuration
    DEPOSED = "deposed"  # delete: left over by a create_before_destroy replace
    DESTROY = "destroy"  # delete: ``destroy`` deletes everything the stack manages
    UP_TO_DATE = "up_to_date"  # noop
    ADOPTED = "adopted"  # noop: found by natural key, apply records it in state
    MOVED = "moved"  # noop: renamed in the configuration, apply moves its state entry
    STATE_ONLY = "state_only"  # noop: only what state records changes (lifecycle.prevent_destroy)


class Change(NamedTuple):
    """One resource's part of the plan. A named tuple, immutable like the rest of the plan's
    values, rather than a frozen dataclass: building a frozen 17-field dataclass (one
    ``object.__setattr__`` per field) was a quarter of the CPU of a plan. ``_replace`` makes a
    changed copy. Build it by keyword: the fields are many, and their order is no contract."""

    address: str
    kind: str
    name: str
    action: Action
    cause: Cause | None
    reason: str
    reason_code: Reason
    remote_id: str | None = None
    adopt: bool = False
    fields: tuple[FieldDiff, ...] = ()
    depends_on: tuple[str, ...] = ()
    # Set when lifecycle.prevent_destroy forbids this delete/replace: why, and how to proceed.
    refused: str | None = None
    create_before_destroy: bool = False
    # For the delete of an object left over by a create_before_destroy replace: its owner's address.
    deposed_of: str | None = None
    # The resource was renamed in the configuration: the address state knew it by.
    moved_from: str | None = None
    # Nothing to change on the API, but what state records must change (lifecycle.prevent_destroy
    # turned on or off): apply writes state only.
    sync_state: bool = False
    # Apply-only data, never serialised:
    desired: Desired | None = None
    live: LiveObject | None = None

    @property
    def is_change(self) -> bool:
        return self.action is not Action.NOOP or self.adopt or self.moved_from is not None or self.sync_state

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "action": self.action.value,
            "cause": self.cause.value if self.cause else None,
            "causes": _causes(self),
            "adopt": self.adopt,
            "reason": self.reason,
            "reason_code": self.reason_code.value,
            "remote_id": self.remote_id,
            "depends_on": list(self.depends_on),
            "fields": [_field_json(f) for f in self.fields],
            "refused": self.refused,
            "moved_from": self.moved_from,
            "sync_state": self.sync_state,
            "create_before_destroy": self.create_before_destroy,
            # Only for a resource declared in a module: which (config/instantiate.py).
            **({"module": self.desired.module} if self.desired is not None and self.desired.module else {}),
        }


def _causes(change: Change) -> list[str]:
    """Every cause a change holds: its fields' (config and drift can meet in one), else its own."""
    found = sorted({f.cause for f in change.fields if f.cause})
    return found or ([change.cause.value] if change.cause else [])


def _field_json(f: FieldDiff) -> dict[str, Any]:
    before, after = _json_value(f.before), _json_value(f.after)
    if f.sensitive:
        before = after = SENSITIVE_CHANGED
    return {
        "path": f.path,
        "op": f.op,
        "before": before,
        "after": after,
        "sensitive": f.sensitive,
        "after_unknown": isinstance(f.after, Unknown),
        "forces_replacement": f.forces_replacement is not None,
        "cause": f.cause,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, Unknown):
        return "(known after apply)"
    if isinstance(value, Ref):
        return f"({value.address})"
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unmanaged: tuple[LiveObject, ...] = ()
    # State entries whose object is gone and no longer declared: dropped quietly on apply.
    forget: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        counts["adopt"] = counts["move"] = 0
        for c in self.changes:
            counts[c.action.value] += 1
            counts["adopt"] += c.adopt
            counts["move"] += c.moved_from is not None
        return counts

    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.is_change]

    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.refused]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "changes": [c.to_json() for c in self.changes],
            "summary": self.summary(),
            "unmanaged": [{"kind": o.kind, "remote_id": o.remote_id, "name": o.name} for o in self.unmanaged],
            "warnings": list(self.warnings),
            "errors": [c.refused for c in self.changes if c.refused],
        }
