"""``import ADDR REMOTE-ID``: record a live object as a resource of the stack, after checking it is
the right one. The decisions are pure and live in ``engine/deciding/adopt.py``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.app.session import Session
from reconciler.engine.deciding.adopt import check_import, import_entry, settle
from reconciler.engine.deciding.plan import Plan, plan
from reconciler.errors import PlanError
from reconciler.kinds import KINDS_BY_NAME
from reconciler.state import StateEntry, StateSnapshot

__all__ = ["ImportResult", "import_resource"]


@dataclass(frozen=True)
class ImportResult:
    address: str
    remote_id: str
    already: bool  # it was recorded before: nothing changed
    plan: Plan  # the plan afterwards

    def remaining(self) -> Plan | None:
        """What the next apply would do to this address, if anything."""
        change = next((c for c in self.plan.changes if c.address == self.address), None)
        if change is None or not change.pending:
            return None
        return replace(self.plan, changes=(change,), unmanaged=(), forget=())


async def import_resource(session: Session, address: str, remote_id: str) -> ImportResult:
    """Record ``remote_id`` as ``address`` in state, after checking it is the right object."""
    kind = address.split(".", 1)[0]
    if kind not in KINDS_BY_NAME:
        raise PlanError(f"{address}: unknown kind {kind!r} (kinds: {', '.join(KINDS_BY_NAME)})")
    async with session.store.lock("import"):
        snapshot = session.store.read()
        live = await session.refresh(session.kinds_in_play(snapshot))
        res, obj = check_import(address, remote_id, session.loaded.resources, live, snapshot)
        current = snapshot.get(address)
        if current is not None and current.remote_id == remote_id:
            return ImportResult(address, remote_id, True, plan(session.loaded.resources, live, snapshot))
        candidate = import_entry(res, obj)
        after = plan(session.loaded.resources, live, _with(snapshot, address, candidate))
        await session.store.record(address, settle(candidate, address, after))
        return ImportResult(
            address, remote_id, False, plan(session.loaded.resources, live, session.store.read())
        )


def _with(snapshot: StateSnapshot, address: str, entry: StateEntry) -> StateSnapshot:
    return StateSnapshot({**snapshot.entries, address: entry})
