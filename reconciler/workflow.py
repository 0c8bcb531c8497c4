"""The stages composed: load → refresh → plan → apply → verify. The CLI calls these."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.config import LoadedStack, load_stack
from reconciler.engine.apply import ApplyResult, EventHook, Outcome, apply
from reconciler.engine.deletes import for_destroy
from reconciler.engine.journal import Journal
from reconciler.engine.pending import PendingCreate, Resolved, explain, pending_creates, resolve
from reconciler.engine.plan import Action, Plan, PlanAsListed, plan
from reconciler.engine.safety import mass_delete_problem
from reconciler.engine.select import select
from reconciler.errors import PlanError
from reconciler.kinds import KINDS, KINDS_BY_NAME
from reconciler.providers import Provider, build_providers
from reconciler.providers.http import CallStats
from reconciler.state import LocalStateStore, StateEntry, StateSnapshot, StateStore
from reconciler.values import Desired, LiveState

__all__ = ["Session", "open_session"]


@dataclass
class Session:
    loaded: LoadedStack
    store: StateStore
    environ: Mapping[str, str]
    sandbox: Any = None
    providers: dict[str, Provider] = field(default_factory=dict)
    _exit: AsyncExitStack = field(default_factory=AsyncExitStack)
    # Addresses whose delete may take unmanaged objects with it (``plan(allow_delete_unmanaged=)``).
    allow_delete_unmanaged: frozenset[str] = frozenset()
    # --target / --exclude (engine/select.py) and the mass-delete guard (engine/safety.py).
    targets: frozenset[str] = frozenset()
    excludes: frozenset[str] = frozenset()
    allow_mass_delete: bool = False
    journal_path: Path | None = None
    _journal_read: bool = False
    # One transport per API endpoint shared with other sessions of the run (fleet drift), or None.
    endpoints: Any = None
    # Objects of creates an interrupted apply left unresolved, found by natural key: recorded in
    # state before this run's journal replaces the old one (engine/pending.py).
    pending_adopted: Mapping[str, StateEntry] = field(default_factory=dict)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        close = getattr(self.store, "close", None)  # the postgres store's connection
        if close is not None:
            close()

    def provider_for(self, kinds: set[str]) -> dict[str, Provider]:
        needed = {KINDS_BY_NAME[k].provider for k in kinds}
        missing = needed - set(self.providers)
        if missing:
            self.providers.update(
                build_providers(
                    self.loaded.stack,
                    missing,
                    environ=self.environ,
                    sandbox=self.sandbox,
                    endpoints=self.endpoints,
                )
            )
        return {name: self.providers[name] for name in needed}

    def http_stats(self) -> dict[str, CallStats]:
        """Requests, retries and 429s per API so far (a provider may hold one client per endpoint)."""
        stats: dict[str, CallStats] = {}
        for name, provider in sorted(self.providers.items()):
            clients = getattr(provider, "clients", None)
            for client in clients.values() if isinstance(clients, Mapping) else [provider.http]:
                if client is not None:
                    stats[name] = stats.get(name, CallStats()) + client.stats
        return stats

    def kinds_in_play(self, snapshot: StateSnapshot, desired: list[Desired] | None = None) -> set[str]:
        """Every kind of every provider the stack or its state uses: the unmanaged inventory
        covers a provider's other kinds too, at one list call each."""
        desired = self.loaded.resources if desired is None else desired
        used = {r.kind for r in desired} | snapshot.kinds()
        providers = {KINDS_BY_NAME[k].provider for k in used}
        return {k.name for k in KINDS if k.provider in providers}

    async def refresh(self, kinds: set[str], live: LiveState | None = None) -> LiveState:
        """List every kind in play, all providers at once (into ``live``, if given)."""
        live = LiveState() if live is None else live
        providers = self.provider_for(kinds)
        await asyncio.gather(
            *(
                p.refresh({k for k in kinds if KINDS_BY_NAME[k].provider == name}, live)
                for name, p in providers.items()
            )
        )
        for kind in sorted(kinds):  # for a provider that does not say so itself
            live.listed(kind)
        return live

    async def plan(self, *, destroy: bool = False) -> tuple[Plan, LiveState]:
        """Refresh and plan; each kind is planned as soon as its list is in (``PlanAsListed``)."""
        snapshot = self.store.read()
        desired = [] if destroy else self.loaded.resources
        kinds = self.kinds_in_play(snapshot, desired)
        pending = self.pending_creates()
        kinds |= {p.kind for p in pending}
        live = LiveState()
        planning = PlanAsListed(
            desired, live, snapshot, pending=kinds, allow_delete_unmanaged=self.allow_delete_unmanaged
        )
        live.on_added, live.on_listed = planning.added, planning.listed
        await self.refresh(kinds, live)
        the_plan = planning.finish()
        if pending:
            resolved = self.resolve_pending(pending, live, snapshot, desired)
            if resolved.entries:  # planned again, with what the interrupted creates made recorded
                overlaid = StateSnapshot({**snapshot.entries, **resolved.entries})
                the_plan = plan(desired, live, overlaid, allow_delete_unmanaged=self.allow_delete_unmanaged)
            the_plan = explain(the_plan, resolved)
        if destroy:
            the_plan = for_destroy(the_plan)
        the_plan = select(the_plan, self.targets, self.excludes)
        problem = None if destroy else mass_delete_problem(self._guarded(the_plan), len(snapshot.entries))
        if problem and not self.allow_mass_delete:
            the_plan = replace(the_plan, warnings=(*the_plan.warnings, f"apply will refuse: {problem}"))
        return the_plan, live

    async def apply(
        self,
        the_plan: Plan,
        *,
        parallelism: int,
        on_event: EventHook | None = None,
        on_notice: Callable[[str], None] | None = None,
        destroy: bool = False,
    ) -> ApplyResult:
        """Apply, journalled; refuses a mass delete unless allowed (``destroy`` is exempt)."""
        if not destroy and not self.allow_mass_delete:
            problem = mass_delete_problem(self._guarded(the_plan), len(self.store.read().entries))
            if problem:
                raise PlanError(problem)
        journal = Journal(self.journal_path) if self.journal_path else None
        if journal is not None:
            if on_notice is not None and not self._journal_read:
                self.report_interrupted(on_notice)
            await self.record_pending()  # before begin() replaces the journal that told of them
            journal.begin()
        kinds = {c.kind for c in the_plan.pending()}
        try:
            return await apply(
                the_plan,
                self.provider_for(kinds),
                self.store,
                parallelism=parallelism,
                on_event=on_event,
                journal=journal,
            )
        finally:
            if journal is not None:
                journal.end()

    def pending_creates(self) -> list[PendingCreate]:
        """Creates the last apply left in flight (outcome unknown), from its journal."""
        self.pending_adopted = {}
        if self.journal_path is None:
            return []
        interrupted = Journal(self.journal_path).previous()
        return pending_creates(interrupted.unfinished) if interrupted is not None else []

    def resolve_pending(
        self, pending: list[PendingCreate], live: LiveState, snapshot: StateSnapshot, desired: list[Desired]
    ) -> Resolved:
        """The objects of ``pending`` found live, to be recorded in state by the next ``apply``."""
        resolved = resolve(pending, live, snapshot, desired)
        self.pending_adopted = resolved.entries
        return resolved

    def _guarded(self, the_plan: Plan) -> Plan:
        """The plan the mass-delete guard judges: without the deletes of objects that interrupted
        creates made and the YAML no longer declares (never managed on purpose, minutes old)."""
        adopted = {e.remote_id for e in self.pending_adopted.values()}
        adopted |= {i for e in self.pending_adopted.values() for i in e.extra.get("deposed", ())}
        if not adopted:
            return the_plan
        return replace(the_plan, changes=tuple(c for c in the_plan.changes if c.remote_id not in adopted))

    async def record_pending(self) -> None:
        """Record what ``resolve_pending`` adopted, before anything else is done, so it stays tracked."""
        current = self.store.read()
        for address, entry in self.pending_adopted.items():
            if current.get(address) != entry:
                await self.store.record(address, entry)
        self.pending_adopted = {}

    def report_interrupted(self, on_notice: Callable[[str], None]) -> bool:
        """Say what an earlier apply that did not finish left in flight; True when there was one.

        Called under the lock, before planning, so the notice comes even when the plan then has
        nothing left to do (the interrupted calls had all landed, or were undone by hand)."""
        self._journal_read = True
        if self.journal_path is None:
            return False
        interrupted = Journal(self.journal_path).previous()
        if interrupted is None:
            return False
        for line in interrupted.describe():
            on_notice(line)
        return True

    def settle_journal(self) -> None:
        """Nothing is left to do: what an interrupted run left in flight is accounted for (unless a
        create it left is still to be recorded: outside ``--target``, say; the journal keeps it)."""
        if self.journal_path is not None and not self.pending_adopted:
            self.journal_path.unlink(missing_ok=True)

    async def verify(self, the_plan: Plan, result: ApplyResult, *, destroy: bool = False) -> list[str]:
        """Re-read what changed and check it now matches the configuration."""
        done = {a for a, r in result.results.items() if r.outcome is Outcome.DONE}
        if not done:
            return []
        after, _ = await self.plan(destroy=destroy)
        problems = []
        for change in after.changes:
            if change.address in done and (change.action is not Action.NOOP or change.adopt):
                fields = ", ".join(f.path for f in change.fields) or change.reason
                problems.append(
                    f"{change.address}: the API accepted the {result.results[change.address].action.value} "
                    f"but the object read back still differs ({change.action.value}: {fields})"
                )
        return problems


def open_session(
    paths: list[Path], *, sandbox: bool, environ: Mapping[str, str], endpoints: Any = None
) -> Session:
    loaded = load_stack(paths, environ)
    sandbox_env = None
    if sandbox:
        from reconciler.sandbox.inprocess import InProcessSandbox
        from reconciler.sandbox.limits import from_environ

        sandbox_env = InProcessSandbox(loaded.root / ".reconciler" / "sandbox", limits=from_environ(environ))
        store: StateStore = LocalStateStore(sandbox_env.state_path)  # never the real run's state
        journal = sandbox_env.data_dir / "journal.jsonl"
    else:
        from reconciler.state.select import open_store

        store = open_store(loaded.stack.state, loaded.root, environ)
        journal = loaded.root / ".reconciler" / "journal.jsonl"
    return Session(loaded, store, environ, sandbox_env, journal_path=journal, endpoints=endpoints)
