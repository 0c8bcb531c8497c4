"""The plan's values: what happens (:class:`Action`), what changed (:class:`Cause`) and why this
action (:class:`Reason`), one :class:`Change` per resource, and the :class:`Plan` with its
versioned JSON (``Plan.to_json()``), which every renderer and the saved-plan file read.
Apply-only data (the desired resource, the live object) rides along on each change but is never
serialised. ``engine/deciding/plan.py`` makes these values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.engine.deciding.diff import FieldDiff
from reconciler.errors import PlanError
from reconciler.values import Desired, LiveObject, Ref, Unknown

__all__ = [
    "FORMAT_VERSION",
    "SENSITIVE_CHANGED",
    "Action",
    "Cause",
    "Change",
    "Plan",
    "Reason",
    "ReplaceOrder",
    "upgrade_plan_json",
]

# 2: an explicit ``action`` from the closed set below, ``pending`` and ``replace_order`` per change
# (1: ``noop`` plus the flags ``adopt``/``moved_from``/``sync_state``; read by upgrade_plan_json).
FORMAT_VERSION = "2"
SENSITIVE_CHANGED = "(sensitive, changed)"


class Action(enum.StrEnum):
    """What apply will do for one resource: one value from a closed set, decided by the planner
    and read by every other part (apply, saved plans, drift, notify, the fleet, the renderers),
    as OpenTofu's ``plans.Action``. Nobody derives it again from reasons or flags.

    The first four call the API. The next three only write state: ``adopt`` records a live object
    found by natural key, ``move`` moves a state entry to the resource's new address (a rename in
    the configuration), ``state-only`` changes what state records (``lifecycle.prevent_destroy``).
    An adopted or renamed resource whose fields also differ is an ``update`` (or ``replace``) and
    keeps ``Change.adopt`` / ``Change.moved_from`` to say so."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    ADOPT = "adopt"
    MOVE = "move"
    STATE_ONLY = "state-only"
    NO_OP = "no-op"

    @property
    def pending(self) -> bool:
        """Apply has something to do: the one rule, written here only."""
        return self is not Action.NO_OP

    @property
    def calls_api(self) -> bool:
        return self in _API_ACTIONS


_API_ACTIONS = frozenset({Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE})


class ReplaceOrder(enum.StrEnum):
    """The order of a replace's two calls (``lifecycle.create_before_destroy`` chooses the second)."""

    DELETE_THEN_CREATE = "delete-then-create"
    CREATE_THEN_DELETE = "create-then-delete"


class Cause(enum.StrEnum):
    NEW = "new"  # declared, not there yet
    CONFIG = "config"  # the YAML changed since the last apply
    DRIFT = "drift"  # the live object changed (or vanished) outside the tool
    REMOVED = "removed"  # no longer declared


class Reason(enum.StrEnum):
    """Why a change has its action, as a closed set (OpenTofu's ``ActionReason``): ``Change.reason``
    says the same in words, for people. Explanation only: nothing decides from it (the action
    does)."""

    NOT_FOUND = "not_found"  # create: declared, not found live
    DELETED_OUTSIDE = "deleted_outside"  # create: state knew it, it is gone: created again
    CHANGED = "changed"  # update: managed fields differ (``cause``: config or drift)
    CANNOT_UPDATE = "cannot_update"  # replace: a changed field cannot be updated in place
    TAINTED = "tainted"  # replace: the live object cannot work as it is (``Kind.tainted``)
    NOT_DECLARED = "not_declared"  # delete: in state, no longer in the configuration
    DEPOSED = "deposed"  # delete: left over by a create_before_destroy replace
    DESTROY = "destroy"  # delete: ``destroy`` deletes everything the stack manages
    UP_TO_DATE = "up_to_date"  # no-op
    ADOPTED = "adopted"  # adopt: found by natural key, apply records it in state
    MOVED = "moved"  # move: renamed in the configuration, apply moves its state entry
    STATE_ONLY = "state_only"  # state-only: what state records changes (lifecycle.prevent_destroy)


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
    # Found by natural key, not by state: true for ``adopt``, and for an update or replace of an
    # object adopted on the way.
    adopt: bool = False
    fields: tuple[FieldDiff, ...] = ()
    depends_on: tuple[str, ...] = ()
    # Set when lifecycle.prevent_destroy forbids this delete/replace: why, and how to proceed.
    refused: str | None = None
    # A replace's order; None for every other action.
    replace_order: ReplaceOrder | None = None
    # For the delete of an object left over by a create_before_destroy replace: its owner's address.
    deposed_of: str | None = None
    # The resource was renamed in the configuration: the address state knew it by (``move``, or
    # an update or replace of the renamed resource).
    moved_from: str | None = None
    # Apply-only data, never serialised:
    desired: Desired | None = None
    live: LiveObject | None = None

    @property
    def pending(self) -> bool:
        return self.action.pending

    @property
    def create_before_destroy(self) -> bool:
        return self.replace_order is ReplaceOrder.CREATE_THEN_DELETE

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "action": self.action.value,
            "pending": self.action.pending,
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
            **({"replace_order": self.replace_order.value} if self.replace_order else {}),
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
        return any(c.action.pending for c in self.changes)

    def summary(self) -> dict[str, int]:
        """Changes per action: each change counted once."""
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        return counts

    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action.pending]

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


def upgrade_plan_json(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A plan JSON document of this version, from one of this version or of version 1 (whose
    ``noop`` stood for adopt, move and state-only changes, told apart by flags). Anything else is
    refused with one message naming ``source``. Version 1 is read here and nowhere else."""
    version = doc.get("format_version")
    if version == FORMAT_VERSION:
        return dict(doc)
    if version != "1":
        raise PlanError(
            f"{source}: unsupported plan format_version {version!r} "
            f"(this reconciler reads {FORMAT_VERSION} and 1); run plan again"
        )
    changes = [_upgrade_change(c) for c in doc.get("changes", ()) if isinstance(c, Mapping)]
    summary: dict[str, int] = {a.value: 0 for a in Action}
    for c in changes:
        summary[c["action"]] = summary.get(c["action"], 0) + 1
    return {**doc, "format_version": FORMAT_VERSION, "changes": changes, "summary": summary}


def _upgrade_change(change: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in change.items() if k not in ("sync_state", "create_before_destroy")}
    action = change.get("action")
    if action == "noop":
        if change.get("adopt"):
            action = Action.ADOPT.value
        elif change.get("moved_from"):
            action = Action.MOVE.value
        elif change.get("sync_state"):
            action = Action.STATE_ONLY.value
        else:
            action = Action.NO_OP.value
    out["action"] = action
    out["pending"] = action != Action.NO_OP.value
    if action == Action.REPLACE.value:
        first_create = bool(change.get("create_before_destroy"))
        order = ReplaceOrder.CREATE_THEN_DELETE if first_create else ReplaceOrder.DELETE_THEN_CREATE
        out["replace_order"] = order.value
    return out
