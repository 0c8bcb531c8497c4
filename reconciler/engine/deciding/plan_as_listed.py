"""Planning while the refresh is still listing: the same plan as ``plan.plan``, worked out as the
pages come in, so the planning overlaps the wait for the last pages instead of following it.

The decisions are ``plan.Planner``'s; this module only decides *when*: a resource that state ties
to an object of a page just listed is planned at once (a match by id is final, whatever the
other pages hold), and one that refers to a resource not planned yet waits for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from reconciler.engine.deciding.plan import Plan, Planner
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state.base import StateSnapshot
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["PlanAsListed"]


class PlanAsListed:
    """The same plan as :func:`plan`, worked out while the refresh is still listing.

    Give :meth:`added` to ``LiveState.on_added`` and :meth:`listed` to ``LiveState.on_listed``.
    A resource that state ties to an object of a page just listed is planned at once (a match
    by id is final, whatever the other pages hold); each kind's other resources are planned as
    soon as its own list and the lists of the kinds it refers to are complete. So the planning
    overlaps the wait for the last pages instead of following it. Kinds outside ``pending``
    (not refreshed) are planned at once. An error found while planning is held and raised by
    :meth:`finish`, after the refresh, so a refresh failure is reported first, as with :func:`plan`.
    """

    def __init__(
        self,
        desired: Iterable[Desired],
        live: LiveState,
        state: StateSnapshot,
        *,
        pending: Collection[str],
        allow_delete_unmanaged: Collection[str] = (),
        kinds: KindRegistry = REGISTRY,
    ) -> None:
        self._planner = _StreamingPlanner(list(desired), live, state, kinds)
        self._planner.allow_delete_unmanaged = frozenset(allow_delete_unmanaged)
        self._pending = set(pending)
        self._error: Exception | None = None
        self._plan_ready()

    def added(self, kind: str, objects: list[LiveObject]) -> None:
        if self._error is not None or kind not in self._pending:
            return
        try:
            self._planner.plan_early(kind, objects)
        except Exception as exc:  # raised from finish(), as below
            self._error = exc

    def listed(self, kind: str) -> None:
        self._pending.discard(kind)
        self._plan_ready()

    @property
    def planned_ahead(self) -> int:
        """Resources planned before their kind's list was complete (so far)."""
        return self._planner.planned_ahead

    def _plan_ready(self) -> None:
        planner = self._planner
        if self._error is not None:
            return
        try:
            for kind in planner.kinds:
                if kind.name in planner.planned or kind.name in self._pending:
                    continue
                before = (*(ref.kind for ref in kind.references.values()), *kind.orders_after)
                if all(k in planner.planned for k in before):
                    planner.plan_kind(kind.name)
        except Exception as exc:  # raised from finish(), once the refresh is known to be complete
            self._error = exc

    def finish(self) -> Plan:
        if self._error is not None:
            raise self._error
        return self._planner.finish()


class _StreamingPlanner(Planner):
    """``Planner`` plus what planning ahead of a kind's complete list needs to remember."""

    def __init__(
        self, desired: list[Desired], live: LiveState, state: StateSnapshot, kinds: KindRegistry
    ) -> None:
        super().__init__(desired, live, state, kinds)
        self.early: dict[str, list[tuple[str, LiveObject]]] = {}  # kind -> (address, object) planned early
        self.planned_ahead = 0
        # address -> objects whose resource refers to it and waits for it to be planned
        self.waiting_on: dict[str, list[LiveObject]] = {}

    def plan_early(self, kind: str, objects: Iterable[LiveObject]) -> None:
        """Plan, ahead of the rest of their kind, the declared resources that state ties to these
        objects by id. Left for ``plan_kind``: a resource that names an object by a literal
        id (checked against the complete list). One that refers to a resource not planned yet
        waits for it (``waiting``)."""
        if kind in self.planned:
            return
        literal_fields = [
            f for f, rule in self.kind_of[kind].references.items() if rule.resolves_to == "remote_id"
        ]
        early = self.early.setdefault(kind, [])
        planned = []
        for obj in objects:
            address = self.owned_ids.get((kind, obj.remote_id))
            res = self.by_address.get(address) if address is not None else None
            if res is None or res.kind != kind or res.address in self.matched:
                continue
            entry = self.state.get(res.address)
            if entry is None or entry.remote_id != obj.remote_id:
                continue  # a deposed object of the resource, not the resource's own
            if literal_fields and any(isinstance(res.attrs.get(f), str) for f in literal_fields):
                continue
            if res.refs:
                missing = next((a for a in res.refs if a not in self.changes), None)
                if missing is not None:
                    self.waiting_on.setdefault(missing, []).append(obj)
                    continue
            self.matched[res.address] = (obj, False)
            self.changes[res.address] = self._change_for(res)
            early.append((res.address, obj))
            planned.append(res.address)
        self.planned_ahead += len(planned)
        self._planned(planned)

    def _planned(self, addresses: Iterable[str]) -> None:
        """Those now planned: plan early what was waiting for them."""
        for address in addresses:
            waiting = self.waiting_on.pop(address, None)
            if waiting:
                self.plan_early(waiting[0].kind, waiting)

    def _superseded(self, kind: str, by_id: Mapping[str, LiveObject]) -> None:
        for address, obj in self.early.pop(kind, ()):
            if by_id.get(obj.remote_id) is not obj:  # listed twice: the last copy counts, as in by_id
                del self.matched[address], self.changes[address]
