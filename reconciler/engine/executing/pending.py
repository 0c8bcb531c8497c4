"""Creates whose outcome is unknown (a journal intent without a result), resolved by natural key.

Like Pulumi's pending operations: a create in flight when an apply was killed may or may not
have landed. If the YAML still declares the resource with the same natural key, the planner
adopts the object by that key as usual. Otherwise (the resource was removed from the YAML, or
its key changed) nothing would ever find the object again: it would stay live and unmanaged.
So it is tracked here until resolved: a live object with the intent's key that nothing in state
owns is the create's, and is adopted into state for its address (or as a deposed object of that
address when the address manages another object now), so the plan deletes it if the YAML no
longer wants it. No such object: the create never landed. Several: cannot tell which one is
ours, so none is touched and the plan says so. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.engine.deciding.changes import Action, Change, Plan
from reconciler.engine.executing.journal import key_digest
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state.base import StateEntry, StateSnapshot
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["PendingCreate", "Resolved", "explain", "pending_creates", "resolve"]

CREATES = ("create", "replace")


@dataclass(frozen=True)
class PendingCreate:
    address: str
    kind: str
    key: str  # the natural key's digest (``journal.key_digest``)


@dataclass(frozen=True)
class Resolved:
    """State entries to record before anything else (address → entry), the ids adopted, and notes."""

    entries: Mapping[str, StateEntry]
    adopted: Mapping[str, str]  # remote id -> address that adopted it
    warnings: tuple[str, ...] = ()


def pending_creates(
    unfinished: Iterable[Mapping[str, Any]], kinds: KindRegistry = REGISTRY
) -> list[PendingCreate]:
    """The creates among a journal's intents without a result (those that recorded their key), of
    the ``kinds`` the run knows."""
    found = []
    for rec in unfinished:
        kind, key = rec.get("kind"), rec.get("key")
        if rec.get("action") not in CREATES or kind not in kinds or not isinstance(key, str):
            continue
        found.append(PendingCreate(str(rec.get("address")), str(kind), key))
    return found


def resolve(
    pending: Iterable[PendingCreate],
    live: LiveState,
    state: StateSnapshot,
    desired: Iterable[Desired],
    kinds: KindRegistry = REGISTRY,
) -> Resolved:
    declared = {d.address: d for d in desired}
    owned = {(e.kind, e.remote_id) for e in state.entries.values()}
    owned |= {(e.kind, i) for e in state.entries.values() for i in e.deposed}
    entries: dict[str, StateEntry] = {}
    adopted: dict[str, str] = {}
    warnings: list[str] = []
    by_digest: dict[str, dict[str, list[LiveObject]]] = {}
    for p in pending:
        kind = kinds[p.kind]
        res = declared.get(p.address)
        wanted = key_digest(kind.natural_key(res.name, res.create_attrs)) if res is not None else None
        if wanted == p.key:
            continue  # still declared with this key: the planner adopts it by natural key
        if p.kind not in by_digest:
            index = by_digest[p.kind] = {}
            for o in live.objects.get(p.kind, []):
                index.setdefault(key_digest(o.key), []).append(o)
        candidates = [
            o
            for o in by_digest[p.kind].get(p.key, [])
            if (o.kind, o.remote_id) not in owned and o.remote_id not in adopted
        ]
        if not candidates:
            continue  # the create never landed (or the object is gone)
        if len(candidates) > 1:
            ids = ", ".join(sorted(o.remote_id for o in candidates))
            warnings.append(
                f"{p.address}: an interrupted apply was creating a {p.kind}; {len(candidates)} unmanaged "
                f"objects have its {kind.key_doc} ({ids}), so none is adopted or deleted; delete the "
                "extra one(s) by hand or `reconciler import` the right one"
            )
            continue
        obj = candidates[0]
        adopted[obj.remote_id] = p.address
        current = entries.get(p.address) or state.get(p.address)
        if current is None:
            # The key as digests: it may hold a secret (a webhook URL) and no YAML says which part.
            key = tuple(key_digest((part,)) for part in obj.key)
            entries[p.address] = StateEntry(p.kind, obj.remote_id, key, "", provider_data=obj.extra)
        else:
            entries[p.address] = replace(current, deposed=(*current.deposed, obj.remote_id))
    return Resolved(entries, adopted, tuple(warnings))


def explain(the_plan: Plan, resolved: Resolved) -> Plan:
    """Say in the plan why an adopted object is deleted (or changed): its create was interrupted."""
    if not resolved.adopted and not resolved.warnings:
        return the_plan
    changes = []
    for c in the_plan.changes:
        if c.remote_id in resolved.adopted and c.action.calls_api:
            c = _explained(c)
        changes.append(c)
    return replace(the_plan, changes=tuple(changes), warnings=(*the_plan.warnings, *resolved.warnings))


def _explained(change: Change) -> Change:
    if change.action is Action.DELETE:
        why = "created by an interrupted apply (outcome unknown until now) and no longer in the configuration"
        return change._replace(reason=why)
    return change._replace(
        reason=f"created by an interrupted apply (outcome unknown until now); {change.reason}"
    )
