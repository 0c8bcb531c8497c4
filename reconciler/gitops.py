"""Saved plans, import and export composed over a :class:`~reconciler.workflow.Session`.

The decisions are pure and live in ``engine/saved.py``, ``engine/adopt.py`` and
``engine/export.py``; this module only reads live state and state for them, and writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.config import LoadedStack
from reconciler.config.stack import Stack
from reconciler.engine import saved as saved_plans
from reconciler.engine.adopt import check_import, import_entry, settle
from reconciler.engine.export import Exported, check_kinds, default_kinds, export_stack
from reconciler.engine.pending import explain
from reconciler.engine.plan import Plan, plan
from reconciler.errors import PlanError, ProviderError
from reconciler.kinds import KINDS_BY_NAME
from reconciler.providers import PROVIDER_NAMES
from reconciler.state import LocalStateStore, StateEntry, StateSnapshot
from reconciler.workflow import Session, open_session

__all__ = ["ImportResult", "export_live", "import_resource", "open_export_session", "plan_from_saved", "save"]


def save(session: Session, the_plan: Plan, out: Path) -> None:
    doc = saved_plans.dump(the_plan, session.loaded.files, sandbox=session.sandbox is not None)
    saved_plans.write(doc, out)


async def plan_from_saved(session: Session, saved: saved_plans.SavedPlan) -> tuple[Plan, list[str]]:
    """Re-read the kinds the saved plan touches, re-plan them, and return exactly the reviewed changes
    (and the addresses of changes found since, not applied). StalePlan if anything reviewed moved."""
    sandbox = session.sandbox is not None
    if bool(saved.meta.get("sandbox")) != sandbox:
        made = "with --sandbox" if saved.meta.get("sandbox") else "without --sandbox"
        raise PlanError(f"{saved.path} was made {made}; apply it the same way")
    kinds = saved.kinds()
    snapshot = session.store.read()
    if not kinds:
        return Plan(()), []
    live = await session.refresh(kinds)
    pending = [p for p in session.pending_creates() if p.kind in kinds]
    resolved = session.resolve_pending(pending, live, snapshot, session.loaded.resources) if pending else None
    if resolved is not None and resolved.entries:  # as `plan` saw them (engine/pending.py)
        snapshot = StateSnapshot({**snapshot.entries, **resolved.entries})
    desired, state = saved_plans.scope(saved, session.loaded.resources, snapshot)
    now = plan(desired, live, state, allow_delete_unmanaged=session.allow_delete_unmanaged)
    if resolved is not None:
        now = explain(now, resolved)
    problems = saved_plans.check(saved, now, live, session.loaded.resources)
    if problems:
        raise saved_plans.StalePlan(saved_plans.stale_message(problems))
    return saved_plans.restrict(saved, now)


@dataclass(frozen=True)
class ImportResult:
    address: str
    remote_id: str
    already: bool  # it was recorded before: nothing changed
    plan: Plan  # the plan afterwards

    def remaining(self) -> Plan | None:
        """What the next apply would do to this address, if anything."""
        change = next((c for c in self.plan.changes if c.address == self.address), None)
        if change is None or not change.is_change:
            return None
        return replace(self.plan, changes=(change,), unmanaged=(), forget=())


async def import_resource(session: Session, address: str, remote_id: str) -> ImportResult:
    """Record ``remote_id`` as ``address`` in state, after checking it is the right object."""
    kind = address.split(".", 1)[0]
    if kind not in KINDS_BY_NAME:
        raise PlanError(f"{address}: unknown kind {kind!r} (kinds: {', '.join(KINDS_BY_NAME)})")
    with session.store.lock("import"):
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


def open_export_session(paths: list[Path], *, sandbox: bool, environ: Mapping[str, str]) -> Session:
    """A session for export: the stack's provider settings when there is a stack; none needed."""
    if paths or any(p.suffix in (".yaml", ".yml") for p in Path(".").iterdir()):
        return open_session(paths or [Path(".")], sandbox=sandbox, environ=environ)
    root = Path(".")
    loaded = LoadedStack(Stack.model_validate({"version": 1}), [], [], root)
    sandbox_env = None
    if sandbox:
        from reconciler.sandbox.inprocess import InProcessSandbox

        sandbox_env = InProcessSandbox(root / ".reconciler" / "sandbox")
        store = LocalStateStore(sandbox_env.state_path)
    else:
        store = LocalStateStore(root / ".reconciler" / "state.json")
    return Session(loaded, store, environ, sandbox_env)


async def export_live(session: Session, kinds: list[str]) -> tuple[Exported, list[str]]:
    """Stack YAML for the live objects of ``kinds`` (default: every kind of every provider that can
    be reached: configured, or the sandbox). Returns the export and notes on providers skipped."""
    notes: list[str] = []
    if kinds:
        wanted = check_kinds(kinds)
        session.provider_for(set(wanted))
    else:
        usable = []
        for name in PROVIDER_NAMES:
            provider_kinds = set(default_kinds([name]))
            try:
                session.provider_for(provider_kinds)
            except ProviderError as exc:
                notes.append(f"{name} skipped: {exc}")
                continue
            usable.append(name)
        wanted = default_kinds(usable)
    if "sequences" in wanted and not session.loaded.stack.providers.scramjet.hubs:
        notes.append(  # hubs are named in a stack, never found: say why no sequence was read
            "scramjet: no hub is configured (providers.scramjet.hubs in the stack given with -f), "
            "so no sequences were read"
        )
    live = await session.refresh(set(wanted))
    header = [f"exported by `reconciler export` from the live {', '.join(wanted) or 'nothing'}"]
    return export_stack(live, wanted, header=header, secret_values=session.loaded.secret_values), notes
