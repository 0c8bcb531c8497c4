"""What a check may write, from the stack's ``watch:`` settings: a pure function of the plan.

Detect-only unless told otherwise. ``sync`` applies configuration changes (new, changed and
removed resources; state-only moves and adoptions), ``heal`` reverts drift; a change holding both
causes (a field edited in the YAML while another drifted) needs both. Deletes and replaces (a
deposed leftover included) need ``allow_delete``. A change ``prevent_destroy`` refuses, a resource
given up as contested, and anything in a suspended stack are never written. A change that
depends on one held back is held too (it cannot happen without it). The mass-delete guard is
not here: it holds in the apply itself (``Session.apply``), for watch as for ``apply``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from reconciler.config.watch import WatchSettings
from reconciler.engine.deciding.changes import Action, Change, Plan

__all__ = ["Decision", "Permissions", "decide", "narrow", "permissions"]


@dataclass(frozen=True)
class Permissions:
    """One stack's settings once the flags and its YAML are combined."""

    sync: bool = False
    heal: bool = False
    allow_delete: bool = False
    suspended: bool = False
    interval_s: float = 300.0

    @property
    def detect_only(self) -> bool:
        return self.suspended or not (self.sync or self.heal)

    def to_json(self) -> dict[str, object]:
        return {
            "sync": self.sync,
            "heal": self.heal,
            "allow_delete": self.allow_delete,
            "suspended": self.suspended,
            "interval_s": self.interval_s,
        }


def permissions(written: WatchSettings, defaults: Permissions, *, suspend_all: bool) -> Permissions:
    """The flags' ``defaults``, overridden by what the stack's ``watch:`` section writes out;
    the global switch suspends every stack whatever it says."""
    chosen = written.model_fields_set
    return Permissions(
        sync=written.sync if "sync" in chosen else defaults.sync,
        heal=written.heal if "heal" in chosen else defaults.heal,
        allow_delete=written.allow_delete if "allow_delete" in chosen else defaults.allow_delete,
        suspended=suspend_all or (written.suspend if "suspend" in chosen else defaults.suspended),
        interval_s=written.interval_s or defaults.interval_s,
    )


_BOOKKEEPING = frozenset({Action.ADOPT, Action.MOVE, Action.STATE_ONLY})


def causes(change: Change) -> set[str]:
    """Every cause a change holds (its fields', else its own), as in the plan JSON."""
    found = {f.cause for f in change.fields if f.cause}
    return found or ({change.cause.value} if change.cause else set())


def is_drift(change: Change) -> bool:
    return "drift" in causes(change)


def is_config(change: Change) -> bool:
    """A change the YAML asks for: a config cause, or state-only bookkeeping (adopt, move)."""
    return bool(causes(change) - {"drift"}) or change.action in _BOOKKEEPING


@dataclass(frozen=True)
class Decision:
    """Addresses to write now, and the others with why each is held back."""

    apply: frozenset[str]
    held: Mapping[str, str]

    @property
    def healing(self) -> bool:
        return bool(self.apply)


def _why_held(change: Change, allowed: Permissions, contested: Collection[str]) -> str | None:
    if allowed.suspended:
        return "suspended"
    if change.refused:
        return "refused (lifecycle.prevent_destroy)"
    if change.action in (Action.DELETE, Action.REPLACE) and not allowed.allow_delete:
        return f"a {change.action.value} needs watch.allow_delete"
    drift, config = is_drift(change), is_config(change)
    if drift and change.address in contested:
        return "contested: healed again and again, given up"
    if drift and not allowed.heal:
        return "drift; heal is off"
    if config and not allowed.sync:
        return "configuration change; sync is off"
    return None


def decide(plan: Plan, allowed: Permissions, contested: Collection[str] = ()) -> Decision:
    held: dict[str, str] = {}
    pending = {c.address: c for c in plan.pending()}
    for address, change in pending.items():
        why = _why_held(change, allowed, contested)
        if why is not None:
            held[address] = why
    changed = True
    while changed:  # a change that needs a held one first is held too
        changed = False
        for address, change in pending.items():
            if address in held:
                continue
            blockers = [d for d in change.depends_on if d in held]
            if blockers:
                held[address] = f"waits for {', '.join(sorted(blockers))}"
                changed = True
    return Decision(frozenset(pending) - frozenset(held), held)


def narrow(plan: Plan, decision: Decision) -> Plan:
    """The plan with only the decided changes (no-ops stay: the apply's ordering reads them)."""
    kept = tuple(c for c in plan.changes if not c.pending or c.address in decision.apply)
    return replace(plan, changes=kept, forget=plan.forget if decision.apply else ())
