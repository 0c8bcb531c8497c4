"""What a run plans, as values: the command line's ``PlanOptions``, a run's ``Scope``, and the
``PlannedRun`` the one planning pipeline (``planning.py``) returns and apply takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from reconciler.engine.deciding.plan import Plan
from reconciler.engine.deciding.safety import mass_delete_problem
from reconciler.engine.executing.pending import PendingCreate
from reconciler.state import StateEntry
from reconciler.values import LiveState

__all__ = ["PlanOptions", "PlannedRun", "Scope"]


@dataclass(frozen=True)
class PlanOptions:
    """What the command line chose about which changes a run plans and may apply."""

    # Addresses whose delete may take unmanaged objects with it (``plan(allow_delete_unmanaged=)``).
    allow_delete_unmanaged: frozenset[str] = frozenset()
    # --target / --exclude (engine/deciding/select.py) and the mass-delete guard (engine/deciding/safety.py).
    targets: frozenset[str] = frozenset()
    excludes: frozenset[str] = frozenset()
    allow_mass_delete: bool = False


@dataclass(frozen=True)
class Scope:
    """What one run plans: the command line's options, a destroy or not, and which kinds (None:
    every kind the stack or its state uses; a saved plan names the kinds it touches)."""

    options: PlanOptions = PlanOptions()
    destroy: bool = False
    kinds: frozenset[str] | None = None
    # The check after an apply: a --target may be gone (a targeted delete removed it), so an ADDR
    # matching nothing is a warning there, an error (engine/deciding/select.py) everywhere else.
    checking: bool = False


@dataclass(frozen=True)
class PlannedRun:
    """A plan and what it was made from, for apply and for the check after it."""

    plan: Plan
    live: LiveState
    scope: Scope = Scope()
    # Objects of creates an interrupted apply left unresolved, found by natural key (address ->
    # entry): apply records them in state before its journal replaces the one that told of them.
    adopted: Mapping[str, StateEntry] = field(default_factory=dict)
    pending_creates: tuple[PendingCreate, ...] = ()
    managed: int = 0  # state entries when planned: what the mass-delete guard compares against

    def mass_delete_problem(self) -> str | None:
        """Why apply must refuse this plan as a mass delete; None when it may go ahead. A destroy
        and ``--allow-mass-delete`` are exempt; the deletes of objects interrupted creates made
        (never managed on purpose, minutes old) do not count."""
        if self.scope.destroy or self.scope.options.allow_mass_delete:
            return None
        adopted = {e.remote_id for e in self.adopted.values()}
        adopted |= {i for e in self.adopted.values() for i in e.deposed}
        judged = self.plan
        if adopted:
            judged = replace(judged, changes=tuple(c for c in judged.changes if c.remote_id not in adopted))
        return mass_delete_problem(judged, self.managed)
