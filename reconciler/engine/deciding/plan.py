"""Working out what to do: ``plan(desired, live, state) -> Plan``, a pure function.

It matches each declared resource to its live object (by state, else by natural key:
adoption, or a rename in the YAML: a move), diffs the managed fields, chooses the action and
its cause, orders the changes by their references, and applies the rules for deletes and
replaces (``engine/deciding/deletes.py``, a pure ``changes -> changes`` function). The values it returns
are in ``engine/deciding/changes.py``. ``plan_as_listed.py`` works out the same plan while the
refresh is still listing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.common.words import singular
from reconciler.engine.deciding.causes import attribute
from reconciler.engine.deciding.changes import Action, Cause, Change, Plan, Reason, ReplaceOrder
from reconciler.engine.deciding.deletes import DeleteContext, apply_delete_rules
from reconciler.engine.deciding.diff import FieldDiff, diff_attrs
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, Kind, KindRegistry, SpecModel
from reconciler.state.base import StateEntry, StateSnapshot
from reconciler.values import UNKNOWN, Desired, LiveObject, LiveState, Ref

__all__ = ["Action", "Cause", "Change", "Plan", "Planner", "plan"]


def plan(
    desired: Iterable[Desired],
    live: LiveState,
    state: StateSnapshot,
    *,
    allow_delete_unmanaged: Collection[str] = (),
    kinds: KindRegistry = REGISTRY,
) -> Plan:
    """Work out what to do. Pure: no I/O, the same inputs give the same plan.

    A delete (or replace) that would take unmanaged objects with it (``Kind.delete_guard``) is
    refused unless its address is in ``allow_delete_unmanaged``.
    """
    planner = Planner(list(desired), live, state, kinds)
    planner.allow_delete_unmanaged = frozenset(allow_delete_unmanaged)
    return planner.finish()


class Planner:
    """The planner's working state for one plan; ``plan()`` drives it, and
    ``plan_as_listed.PlanAsListed`` drives a subclass while the refresh lists."""

    def __init__(
        self, desired: list[Desired], live: LiveState, state: StateSnapshot, kinds: KindRegistry = REGISTRY
    ) -> None:
        self.kinds = kinds
        self.kind_of = kinds.by_name
        self.desired = desired
        self.live = live
        self.state = state
        self.by_kind: dict[str, list[Desired]] = {}
        self.by_address: dict[str, Desired] = {}
        for res in desired:
            self.by_kind.setdefault(res.kind, []).append(res)
            self.by_address[res.address] = res
        self.planned: set[str] = set()  # kinds
        self.by_id: dict[str, dict[str, LiveObject]] = {}
        self.by_key: dict[str, dict[tuple[str, ...], list[LiveObject]]] = {}
        self.owned_ids = {(e.kind, e.remote_id): a for a, e in state.entries.items()}
        for address, entry in state.entries.items():
            for old_id in entry.deposed:
                self.owned_ids[(entry.kind, old_id)] = address
        self.matched: dict[str, tuple[LiveObject | None, bool]] = {}  # address -> (live, adopted)
        self.declared = self.by_address.keys()
        self.visiting: set[str] = set()
        self.moved: dict[str, str] = {}  # new address -> the old one state knew it by
        self.changes: dict[str, Change] = {}
        self.allow_delete_unmanaged: frozenset[str] = frozenset()
        self.warnings: list[str] = []

    def plan_kind(self, kind: str) -> None:
        """Plan the declared resources of ``kind``. Its live list must be complete, and the kinds
        it refers to planned already (their changes resolve its references)."""
        by_id = self.by_id[kind] = self.live.by_id(kind)
        self._superseded(kind, by_id)
        resources = self.by_kind.get(kind, ())
        for res in resources:
            if res.address not in self.matched:
                self.matched[res.address] = self._match(res)
        for res in resources:
            self._plan_in_order(res)
        self.planned.add(kind)
        self._planned(res.address for res in resources)

    def _superseded(self, kind: str, by_id: Mapping[str, LiveObject]) -> None:
        """Hook for planning while listing: drop what was planned early against an object listed
        twice (the last copy counts). Nothing is planned early here."""

    def _planned(self, addresses: Iterable[str]) -> None:
        """Hook for planning while listing: these resources are planned now."""

    def finish(self) -> Plan:
        """Plan any kind not planned yet, then what spans kinds: deletes, guards, the unmanaged."""
        for kind in self.kinds:
            if kind.name not in self.planned:
                self.plan_kind(kind.name)
        declared = self.declared
        moved_away = set(self.moved.values())
        forget = []
        undeclared = [
            (address, entry)
            for address, entry in self.state.entries.items()
            if address not in declared and address not in moved_away
        ]
        for address, entry in sorted(undeclared):
            obj = self.by_id.get(entry.kind, {}).get(entry.remote_id)
            if obj is None:
                forget.append(address)
                continue
            kind_name, name = address.split(".", 1)
            self.changes[address] = Change(
                address=address,
                kind=kind_name,
                name=name,
                action=Action.DELETE,
                cause=Cause.REMOVED,
                reason="no longer in the configuration",
                reason_code=Reason.NOT_DECLARED,
                remote_id=entry.remote_id,
                live=obj,
            )
        context = DeleteContext(
            self.desired,
            self.live,
            self.state,
            self.by_id,
            self.owned_ids,
            self.allow_delete_unmanaged,
            self.kinds,
        )
        self.changes, warnings = apply_delete_rules(self.changes, context)
        self.warnings.extend(warnings)
        claimed = {(c.kind, c.remote_id) for c in self.changes.values() if c.remote_id}
        unmanaged = tuple(
            o
            for kind in self.kinds
            for o in self._listed_unmanaged(kind)
            if (o.kind, o.remote_id) not in claimed and (o.kind, o.remote_id) not in self.owned_ids
        )
        return Plan(self._in_plan_order(), unmanaged, tuple(forget), tuple(self.warnings))

    def _listed_unmanaged(self, kind: Kind) -> list[LiveObject]:
        """The live objects of ``kind`` a plan may list as unmanaged (``Kind.unmanaged_scope``)."""
        objects = self.live.objects.get(kind.name, [])
        if kind.unmanaged_scope is None or not objects:
            return objects
        shown = kind.unmanaged_scope(self.by_kind.get(kind.name, []))
        return [o for o in objects if shown(o)]

    def _in_plan_order(self) -> tuple[Change, ...]:
        """By kind (in the registry's order; kinds not there last), then by name."""
        order = self.kinds.order
        groups: dict[int, list[Change]] = {}
        for c in self.changes.values():
            groups.setdefault(order.get(c.kind, len(order)), []).append(c)
        by_name = operator.attrgetter("name")
        return tuple(c for i in sorted(groups) for c in sorted(groups[i], key=by_name))

    def _by_key(self, kind: str) -> dict[tuple[str, ...], list[LiveObject]]:
        """Built when first needed: only resources not found by their id from state look here."""
        index = self.by_key.get(kind)
        if index is None:
            index = self.by_key[kind] = self.live.by_key(kind)
        return index

    def _match(self, res: Desired) -> tuple[LiveObject | None, bool]:
        """Find the live object for a declared resource: by state first, else by natural key."""
        entry = self.state.get(res.address)
        if entry is not None:
            obj = self.by_id.get(res.kind, {}).get(entry.remote_id)
            if obj is not None:
                return obj, False
        kind = self.kind_of[res.kind]
        key = kind.natural_key(res.name, res.create_attrs)
        candidates = [
            o for o in self._by_key(res.kind).get(key, []) if (o.kind, o.remote_id) not in self.owned_ids
        ]
        if len(candidates) > 1:
            ids = ", ".join(o.remote_id for o in candidates)
            raise PlanError(
                f"{res.address}: {len(candidates)} live {res.kind} match its natural key "
                f"({kind.key_doc} = {'(sensitive)' if res.sensitive else ' / '.join(key)}): {ids}. "
                "Refusing to guess which one to manage; "
                f"delete the extra ones or record the right one with `reconciler import {res.address} ID`."
            )
        if candidates:
            return candidates[0], True
        return self._renamed(res, key)

    def _renamed(self, res: Desired, key: tuple[str, ...]) -> tuple[LiveObject | None, bool]:
        """Renamed in the configuration: the object is in state under an address no longer declared."""
        renamed = []
        for obj in self._by_key(res.kind).get(key, []):
            owner = self.owned_ids.get((obj.kind, obj.remote_id))
            entry = self.state.get(owner) if owner else None
            if (
                owner
                and owner not in self.declared
                and owner not in self.moved.values()
                and entry is not None
                and entry.remote_id == obj.remote_id
            ):
                renamed.append((obj, owner))
        if len(renamed) != 1:
            return None, False
        obj, owner = renamed[0]
        self.moved[res.address] = owner
        return obj, False

    def _plan_in_order(self, res: Desired) -> None:
        """Plan ``res`` after the resources it refers to, so a reference sees its target's action."""
        if res.address in self.changes:
            return
        if res.address in self.visiting:
            raise PlanError(f"{res.address}: its references form a cycle")
        self.visiting.add(res.address)
        for address in res.refs:
            target = self.by_address.get(address)
            if target is not None:
                self._plan_in_order(target)
        self.visiting.discard(res.address)
        self.changes[res.address] = self._change_for(res)

    def _resolve(self, res: Desired, attrs: Mapping[str, Any]) -> Mapping[str, Any]:
        kind = self.kind_of[res.kind]
        if not kind.references:
            return attrs
        for field_name, ref_rule in kind.references.items():
            value = attrs.get(field_name)
            if isinstance(value, str) and ref_rule.resolves_to == "remote_id":
                known = value in self.by_id.get(ref_rule.kind, {}) or value in self.live.external_ids.get(
                    ref_rule.kind, set()
                )
                if not known:
                    raise PlanError(
                        f"{res.address}: {field_name} {value!r} does not exist "
                        f"(no {singular(ref_rule.kind)} with that id on {kind.provider.capitalize()})"
                    )
        return kind.resolve_refs(attrs, self._planned_id)

    def _planned_id(self, ref: Ref) -> Any:
        """The remote id a reference will have when apply gets to it: unknown if created by this plan."""
        target = self.changes.get(ref.address)
        if target is None or target.action in (Action.CREATE, Action.REPLACE):
            return UNKNOWN
        return target.remote_id

    def _change_for(self, res: Desired) -> Change:
        moved_from = self.moved.get(res.address)
        entries = self.state.entries
        change = self._change_for_resource(res, entries.get(moved_from or res.address))
        entry = entries.get(res.address)
        if change.action is Action.NO_OP and entry is not None:
            wanted = bool(res.lifecycle and res.lifecycle.prevent_destroy)
            if wanted != entry.prevent_destroy:
                change = change._replace(
                    action=Action.STATE_ONLY,
                    cause=Cause.CONFIG,
                    reason=f"lifecycle.prevent_destroy turned {'on' if wanted else 'off'}: recorded in state",
                    reason_code=Reason.STATE_ONLY,
                )
        if moved_from is None:
            return change
        reason = f"renamed from {moved_from} in the configuration (the same object); {change.reason}"
        if change.action is Action.NO_OP:
            return change._replace(
                action=Action.MOVE, moved_from=moved_from, reason=reason, reason_code=Reason.MOVED
            )
        return change._replace(moved_from=moved_from, reason=reason)

    def _change_for_resource(self, res: Desired, entry: StateEntry | None) -> Change:
        """``entry``: the state entry the resource is known by (its old address, if renamed)."""
        kind = self.kind_of[res.kind]
        obj, adopted = self.matched[res.address]
        deps = (
            tuple(sorted(a for a in res.refs if a in self.changes and self.changes[a].action.calls_api))
            if res.refs
            else ()
        )
        if obj is None:
            cause = Cause.DRIFT if entry is not None else Cause.NEW
            reason = (
                "deleted outside reconciler; will be created again"
                if entry is not None
                else "declared, not found live"
            )
            return _declared(
                res,
                action=Action.CREATE,
                cause=cause,
                reason=reason,
                reason_code=Reason.DELETED_OUTSIDE if entry is not None else Reason.NOT_FOUND,
                fields=_creation_fields(kind, self._resolve(res, res.create_attrs), cause, res.sensitive),
                depends_on=deps,
            )
        have = _with_state_fields(kind, obj, entry)
        wanted = res.attrs
        if res.ignored or kind.local_fields or kind.state_fields:
            wanted = {
                k: v
                for k, v in wanted.items()
                if k not in res.ignored
                and k not in kind.local_fields
                and (k not in kind.state_fields or k in have)
            }
        if kind.references:
            wanted = self._resolve(res, wanted)
        diffs = diff_attrs(kind, wanted, have, res.sensitive)
        fields = tuple(_live_replace(obj, f) for f in diffs) if diffs else ()
        if kind.name_is_remote and obj.name != res.name and "name" not in res.ignored:
            # Found by state under another name: it was renamed outside; its name is managed.
            fields = (FieldDiff("name", obj.name, res.name, False, kind.forces_replacement("name")), *fields)
        tainted = kind.tainted(obj) if kind.tainted else None
        if tainted:
            fields, cause = attribute(fields, res.attrs, entry, adopted) if fields else ((), Cause.DRIFT)
            return _declared(
                res,
                action=Action.REPLACE,
                cause=cause,
                reason=f"{tainted}; it must be created again",
                reason_code=Reason.TAINTED,
                replace_order=ReplaceOrder.DELETE_THEN_CREATE,
                remote_id=obj.remote_id,
                adopt=adopted,
                fields=fields,
                depends_on=deps,
                live=obj,
            )
        if not fields:
            reason = f"adopting the existing object found by {kind.key_doc}" if adopted else "up to date"
            return _declared(
                res,
                action=Action.ADOPT if adopted else Action.NO_OP,
                cause=None,
                reason=reason,
                reason_code=Reason.ADOPTED if adopted else Reason.UP_TO_DATE,
                remote_id=obj.remote_id,
                adopt=adopted,
                live=obj,
            )
        fields, cause = attribute(fields, res.attrs, entry, adopted)
        forcing = [f for f in fields if f.forces_replacement]
        if forcing:
            first = forcing[0]
            reason = f"{first.path} cannot be updated in place: {first.forces_replacement}"
            action, code = Action.REPLACE, Reason.CANNOT_UPDATE
        else:
            action, code = Action.UPDATE, Reason.CHANGED
            reason = "changed outside reconciler" if cause is Cause.DRIFT else "configuration changed"
            outside = [f.path for f in fields if f.cause == Cause.DRIFT.value]
            if cause is Cause.CONFIG and outside:
                reason += f"; also changed outside reconciler: {', '.join(outside)}"
        if adopted:
            reason = f"adopting the existing object found by {kind.key_doc}; {reason}"
        return _declared(
            res,
            action=action,
            cause=cause,
            reason=reason,
            reason_code=code,
            remote_id=obj.remote_id,
            adopt=adopted,
            fields=fields,
            depends_on=deps,
            replace_order=_replace_order(res) if action is Action.REPLACE else None,
            live=obj,
        )


def _replace_order(res: Desired) -> ReplaceOrder:
    if res.lifecycle and res.lifecycle.create_before_destroy:
        return ReplaceOrder.CREATE_THEN_DELETE
    return ReplaceOrder.DELETE_THEN_CREATE


def _declared(res: Desired, **fields: Any) -> Change:
    """A change of a declared resource: its address, kind, name and desired value filled in."""
    return Change(address=res.address, kind=res.kind, name=res.name, desired=res, **fields)


def _creation_fields(
    kind: Kind, attrs: Mapping[str, Any], cause: Cause, sensitive: frozenset[str] = frozenset()
) -> tuple[FieldDiff, ...]:
    hidden = _machine_local(kind)
    return tuple(
        FieldDiff(
            name, None, value, name in kind.sensitive_fields or name in sensitive, cause=cause.value, op="add"
        )
        for name, value in attrs.items()
        if value is not None and name not in hidden
    )


@functools.cache
def _machine_local_fields(spec: type[SpecModel], local_fields: frozenset[str]) -> frozenset[str]:
    written = {f.alias or name for name, f in spec.model_fields.items()}
    return frozenset(local_fields - written)


def _machine_local(kind: Kind) -> frozenset[str]:
    """Local inputs derived on this machine (a package's absolute path): not shown in a plan, which
    shows what the user wrote instead (``package: ./sequences/x``, relative to the stack)."""
    return _machine_local_fields(kind.spec, kind.local_fields) if kind.local_fields else frozenset()


def _with_state_fields(kind: Kind, obj: LiveObject, entry: StateEntry | None) -> Mapping[str, Any]:
    """Live attrs plus the ``kind.state_fields`` values recorded when this very object was applied."""
    if not kind.state_fields or entry is None or entry.remote_id != obj.remote_id:
        return obj.attrs
    return {**obj.attrs, **{f: entry.state_fields[f] for f in kind.state_fields if f in entry.state_fields}}


def _live_replace(obj: LiveObject, diff: FieldDiff) -> FieldDiff:
    """A field the live object cannot change in place (``LiveObject.replace_fields``) forces a replace."""
    why = obj.replace_fields.get(diff.field)
    return diff if diff.forces_replacement or why is None else replace(diff, forces_replacement=why)
