"""``reconciler import ADDR REMOTE_ID``: bring one existing object under management. Pure checks.

The object must exist, match the natural key the stack declares for ADDR (else the wrong object
would be managed, and perhaps deleted one day), and not be managed already by another address.
The state entry recorded then is what an adoption by apply would record, except the digest:
the stack's digest when the object already matches the stack, else empty, so the next plan calls
the differences ``config`` (not yet applied), not ``drift``.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.common.words import plural, singular
from reconciler.engine.deciding.changes import Plan
from reconciler.engine.secrets import stored_key
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state.base import StateEntry, StateSnapshot, digest
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["check_import", "import_entry", "settle"]


def check_import(
    address: str,
    remote_id: str,
    desired: list[Desired],
    live: LiveState,
    state: StateSnapshot,
    kinds: KindRegistry = REGISTRY,
) -> tuple[Desired, LiveObject]:
    """The declared resource and the live object to record for it, or PlanError saying why not."""
    declared = {d.address: d for d in desired}
    res = declared.get(address)
    if res is None:
        kind_name = address.split(".", 1)[0]
        same_kind = sorted(a for a in declared if a.startswith(f"{kind_name}."))
        hint = f" (declared {kind_name}: {', '.join(same_kind)})" if same_kind else ""
        raise PlanError(
            f"{address} is not declared in the stack{hint}; declare it in the YAML first, then import it"
        )
    kind = kinds[res.kind]
    obj = live.by_id(res.kind).get(remote_id)
    if obj is None:
        listed = plural(len(live.objects.get(res.kind, [])), singular(res.kind), res.kind.replace("_", " "))
        raise PlanError(
            f"there is no {singular(res.kind)} with id {remote_id} on {kind.provider} ({listed} listed)"
        )
    wanted = tuple(kind.natural_key(res.name, res.create_attrs))
    if wanted != tuple(obj.key):
        raise PlanError(
            f"{remote_id} does not match {address}: its natural key ({kind.key_doc}) is "
            f"{' / '.join(obj.key)!r}, the stack declares {' / '.join(wanted)!r}. Refusing to record "
            "the wrong object; fix the YAML or give the id of the matching object"
        )
    for other, entry in sorted(state.entries.items()):
        owned = entry.owned_ids()
        if other != address and entry.kind == res.kind and remote_id in owned:
            raise PlanError(
                f"{remote_id} is already managed by {other}; one live object can be managed by one "
                f"resource only (`reconciler state rm {other}` first, if that is a mistake)"
            )
    current = state.get(address)
    if current is not None and current.remote_id != remote_id:
        raise PlanError(
            f"{address} already manages {current.remote_id}; run `reconciler state rm {address}` first "
            f"to manage {remote_id} instead (the other object is left alone)"
        )
    return res, obj


def import_entry(res: Desired, obj: LiveObject, kinds: KindRegistry = REGISTRY) -> StateEntry:
    """The state entry recording ``obj`` as ``res``, as an adoption by apply would write it."""
    protected = bool(res.lifecycle is not None and getattr(res.lifecycle, "prevent_destroy", False))
    key = stored_key(res, kinds[res.kind])
    return StateEntry(
        res.kind, obj.remote_id, key, digest(res.attrs), prevent_destroy=protected, provider_data=obj.extra
    )


def settle(entry: StateEntry, address: str, plan_after: Plan) -> StateEntry:
    """``plan_after`` is the plan with ``entry`` recorded: if it shows a change for ``address``,
    the object differs from the stack, and the digest is cleared so the differences read as
    ``config`` (never applied), not ``drift``."""
    change = next((c for c in plan_after.changes if c.address == address), None)
    if change is not None and not change.pending:
        return entry
    return replace(entry, digest="")
