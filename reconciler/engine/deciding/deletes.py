"""The rules a plan's deletes and replaces go through, once every kind is planned.

Objects a create_before_destroy replace left behind are deleted; a declared resource may not name
an object the plan deletes; a delete waits for the changes that move references off it;
``lifecycle.prevent_destroy`` refuses that resource's delete or replace; ``Kind.delete_guard``
refuses a delete that would take unmanaged objects with it. One pure function,
:func:`apply_delete_rules`: the planner's changes in, the changes those rules make of them out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.common.words import plural
from reconciler.engine.deciding.changes import Action, Cause, Change, Plan, Reason
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state.base import StateSnapshot
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["DESTROY_REASON", "DeleteContext", "apply_delete_rules", "for_destroy"]


@dataclass(frozen=True)
class DeleteContext:
    """What the rules read besides the changes: the planner's inputs and its indexes of them."""

    desired: Sequence[Desired]
    live: LiveState
    state: StateSnapshot
    by_id: Mapping[str, Mapping[str, LiveObject]]  # kind -> remote id -> live object
    owned_ids: Mapping[tuple[str, str], str]  # (kind, remote id) -> the address state has it under
    allow_delete_unmanaged: frozenset[str] = frozenset()
    kinds: KindRegistry = REGISTRY


def apply_delete_rules(
    changes: Mapping[str, Change], ctx: DeleteContext
) -> tuple[dict[str, Change], list[str]]:
    """``changes`` (by address) as the delete rules leave them, and the warnings they give.
    Pure: ``changes`` is not modified. Raises PlanError for a reference to a deleted object."""
    out = dict(changes)
    _add_deposed_deletes(out, ctx)
    warnings: list[str] = []
    if any(c.action is Action.DELETE or c.action is Action.REPLACE for c in out.values()):
        _check_references_to_deletes(out, ctx)
        _add_delete_dependencies(out, ctx)
        _protect(out, ctx)
        warnings = _guard_deletes(out, ctx)
    return out, warnings


def _add_deposed_deletes(changes: dict[str, Change], ctx: DeleteContext) -> None:
    """Objects a create_before_destroy replace could not delete yet: delete them now."""
    deposing = [(a, e) for a, e in ctx.state.entries.items() if e.deposed]
    for address, entry in sorted(deposing):
        for old_id in entry.deposed:
            obj = ctx.by_id.get(entry.kind, {}).get(old_id)
            if obj is None:
                continue  # already gone; apply drops it from the entry
            kind, name = address.split(".", 1)
            deposed = f"{address}#deposed-{old_id}"
            owner = changes.get(address)
            if owner is not None and owner.action in (Action.DELETE, Action.REPLACE):
                # Deleting the owner's state entry first would forget the leftover if its delete failed.
                changes[address] = _with_deps(owner, {deposed})
            changes[deposed] = Change(
                address=deposed,
                kind=kind,
                name=name,
                action=Action.DELETE,
                cause=Cause.REMOVED,
                reason=f"left over by a create_before_destroy replace of {address}",
                reason_code=Reason.DEPOSED,
                remote_id=old_id,
                deposed_of=address,
                live=obj,
            )


def _destructive(changes: Mapping[str, Change], ctx: DeleteContext) -> list[tuple[str, Change]]:
    """The deletes and replaces, in a stable order (the plan's), whatever order they were planned in."""
    found = [(a, c) for a, c in changes.items() if c.action in (Action.DELETE, Action.REPLACE)]
    order = ctx.kinds.order
    return sorted(found, key=lambda ac: (order.get(ac[1].kind, 99), ac[1].name, ac[0]))


def _protect(changes: dict[str, Change], ctx: DeleteContext) -> None:
    """lifecycle.prevent_destroy: refuse that resource's delete or replace, and only that."""
    for address, change in _destructive(changes, ctx):
        if change.deposed_of:
            continue
        desired = change.desired
        entry = ctx.state.get(address)
        if desired is not None:
            protected = bool(desired.lifecycle and desired.lifecycle.prevent_destroy)
        else:
            protected = bool(entry and entry.prevent_destroy)
        if not protected:
            continue
        if change.action is Action.REPLACE:
            how = (
                f"revert the change to {change.fields[0].path if change.fields else 'it'}, or set "
                "lifecycle.prevent_destroy: false and apply, then make the change"
            )
        else:
            how = (
                "declare it again; or declare it with lifecycle.prevent_destroy: false and apply, then "
                f"remove it; or stop managing it without deleting: reconciler state rm {address}"
            )
        verb = "replace" if change.action is Action.REPLACE else "destroy"
        refusal = (
            f"{address} has lifecycle.prevent_destroy set, and this plan would {verb} it "
            f"({change.reason}). To proceed: {how}."
        )
        changes[address] = change._replace(refused=refusal)


def _check_references_to_deletes(changes: Mapping[str, Change], ctx: DeleteContext) -> None:
    """A declared resource may not name (by a literal) an object this plan deletes."""
    deletes = [c for c in changes.values() if c.action is Action.DELETE and c.live is not None]
    if not deletes:
        return
    deleted: dict[str, dict[tuple[str, str | None], Change]] = {
        "name": {(c.kind, c.live.name): c for c in deletes if c.live is not None},
        "remote_id": {(c.kind, c.remote_id): c for c in deletes},
    }
    for res in ctx.desired:
        for field_name, ref_rule in ctx.kinds.by_name[res.kind].references.items():
            value = res.create_attrs.get(field_name)
            if not isinstance(value, str):
                continue
            target = deleted[ref_rule.resolves_to].get((ref_rule.kind, value))
            if target is None:
                continue
            raise PlanError(
                f"{res.address}: {field_name} {value!r} is {target.address}, which is no longer "
                f"declared and would be deleted. Declare {target.address} again, or move "
                f"{res.address} off it first."
            )


def _guard_deletes(changes: dict[str, Change], ctx: DeleteContext) -> list[str]:
    """``Kind.delete_guard``: refuse a delete that would take unmanaged objects with it."""
    guarded = [
        (address, change)
        for address, change in _destructive(changes, ctx)
        if ctx.kinds.by_name[change.kind].delete_guard is not None
        and change.live is not None
        and not change.refused
    ]
    warnings: list[str] = []
    if not guarded:
        return warnings
    managed = frozenset(ctx.owned_ids) | {(c.kind, c.remote_id) for c in changes.values() if c.remote_id}
    for address, change in guarded:
        guard = ctx.kinds.by_name[change.kind].delete_guard
        assert guard is not None and change.live is not None
        blockers = guard(change.live, ctx.live, managed)
        if not blockers:
            continue
        listed = "; ".join(blockers)
        if address in ctx.allow_delete_unmanaged:
            warnings.append(f"{address}: deleting it also deletes, as allowed: {listed}")
            continue
        refusal = (
            f"deleting {address} would also delete {plural(len(blockers), 'object')} this stack does not "
            f"manage: {listed}. To proceed: declare them, or delete them yourself, or allow it with "
            f"--allow-delete-unmanaged {address}."
        )
        changes[address] = change._replace(refused=refusal)
    return warnings


def _add_delete_dependencies(changes: dict[str, Change], ctx: DeleteContext) -> None:
    """A delete (or a replace's delete) waits for every change that moves a reference off it."""
    if not any(c.action is Action.DELETE for c in changes.values()):
        return
    by_remote = {(c.kind, c.remote_id): c for c in changes.values() if c.remote_id}
    by_name = {(c.kind, c.live.name): c for c in changes.values() if c.live is not None}
    extra: dict[str, set[str]] = {}
    for change in changes.values():
        if change.live is None or not change.action.calls_api:
            continue
        kind = ctx.kinds.by_name[change.kind]
        for field_name, rule in kind.references.items():
            index = by_name if rule.resolves_to == "name" else by_remote
            value = change.live.attrs.get(field_name)
            target = index.get((rule.kind, value)) if isinstance(value, str) else None
            if target is not None and target.action is Action.DELETE:
                extra.setdefault(target.address, set()).add(change.address)
    for address, before in extra.items():
        c = changes[address]
        changes[address] = _with_deps(c, before)


def _with_deps(change: Change, more: set[str]) -> Change:
    return change._replace(depends_on=tuple(sorted(set(change.depends_on) | more)))


DESTROY_REASON = "destroy deletes everything this stack manages"


def for_destroy(plan: Plan) -> Plan:
    """A plan made with nothing declared, worded for ``destroy``: its deletes are not "no longer in
    the configuration" (the YAML did not change), and a refusal says how to proceed with a destroy."""
    changes = []
    for change in plan.changes:
        if change.action is Action.DELETE and change.cause is Cause.REMOVED and change.deposed_of is None:
            change = change._replace(reason=DESTROY_REASON, reason_code=Reason.DESTROY)
            if change.refused and "lifecycle.prevent_destroy" in change.refused:
                change = change._replace(
                    refused=f"{change.address} has lifecycle.prevent_destroy set, and destroy would "
                    "delete it. To proceed: set lifecycle.prevent_destroy: false in its YAML and apply, "
                    "then destroy; or stop managing it without deleting: "
                    f"reconciler state rm {change.address}."
                )
        changes.append(change)
    return dataclasses.replace(plan, changes=tuple(changes))
