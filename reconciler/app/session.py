"""A run's session: the loaded stack, its state store and providers, and the stages composed over
them (refresh → plan → apply → verify). ``open_session`` is the one place a session is built."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.config import LoadedStack, load_stack
from reconciler.config.stack import stack_model
from reconciler.engine.apply import ApplyResult, EventHook, Outcome, apply
from reconciler.engine.changes import Action
from reconciler.engine.deletes import for_destroy
from reconciler.engine.journal import Journal
from reconciler.engine.pending import PendingCreate, Resolved, explain, pending_creates, resolve
from reconciler.engine.plan import Plan, PlanAsListed, plan
from reconciler.engine.safety import mass_delete_problem
from reconciler.engine.select import select
from reconciler.errors import PlanError
from reconciler.kinds import KINDS, KINDS_BY_NAME
from reconciler.providers import Provider, build_providers
from reconciler.providers.stats import CallStats
from reconciler.state import LocalStateStore, StateEntry, StateSnapshot, StateStore
from reconciler.values import Desired, LiveState

if TYPE_CHECKING:
    from reconciler.app.fleet.endpoints import EndpointPool
    from reconciler.sandbox.inprocess import InProcessSandbox

__all__ = ["PlanOptions", "Session", "open_export_session", "open_session"]


@dataclass(frozen=True)
class PlanOptions:
    """What the command line chose about which changes a run plans and may apply."""

    # Addresses whose delete may take unmanaged objects with it (``plan(allow_delete_unmanaged=)``).
    allow_delete_unmanaged: frozenset[str] = frozenset()
    # --target / --exclude (engine/select.py) and the mass-delete guard (engine/safety.py).
    targets: frozenset[str] = frozenset()
    excludes: frozenset[str] = frozenset()
    allow_mass_delete: bool = False


@dataclass
class Session:
    loaded: LoadedStack
    store: StateStore
    environ: Mapping[str, str]
    sandbox: InProcessSandbox | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    options: PlanOptions = PlanOptions()
    journal_path: Path | None = None
    _journal_read: bool = False
    # One transport per API endpoint shared with other sessions of the run (fleet drift), or None.
    endpoints: EndpointPool | None = None
    # Objects of creates an interrupted apply left unresolved, found by natural key: recorded in
    # state before this run's journal replaces the old one (engine/pending.py).
    pending_adopted: Mapping[str, StateEntry] = field(default_factory=dict)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        self.store.close()

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
        """Requests, retries and 429s per API so far."""
        return {name: provider.stats() for name, provider in sorted(self.providers.items())}

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
            desired, live, snapshot, pending=kinds, allow_delete_unmanaged=self.options.allow_delete_unmanaged
        )
        live.on_added, live.on_listed = planning.added, planning.listed
        await self.refresh(kinds, live)
        the_plan = planning.finish()
        if pending:
            resolved = self.resolve_pending(pending, live, snapshot, desired)
            if resolved.entries:  # planned again, with what the interrupted creates made recorded
                overlaid = StateSnapshot({**snapshot.entries, **resolved.entries})
                allowed = self.options.allow_delete_unmanaged
                the_plan = plan(desired, live, overlaid, allow_delete_unmanaged=allowed)
            the_plan = explain(the_plan, resolved)
        if destroy:
            the_plan = for_destroy(the_plan)
        the_plan = select(the_plan, self.options.targets, self.options.excludes)
        if not destroy:
            self._check_stack_files(the_plan)
        problem = None if destroy else mass_delete_problem(self._guarded(the_plan), len(snapshot.entries))
        if problem and not self.options.allow_mass_delete:
            the_plan = replace(the_plan, warnings=(*the_plan.warnings, f"apply will refuse: {problem}"))
        return the_plan, live

    def _check_stack_files(self, the_plan: Plan) -> None:
        """Refuse a plan that deletes what a stack file beside the loaded ones declares
        (``app/stack_files.py``): the state was made with that file too."""
        gone = [c.address for c in the_plan.pending() if c.action is Action.DELETE and not c.deposed_of]
        if not gone:
            return
        from reconciler.app.stack_files import declared_beside, files_problem

        declared = declared_beside(self.loaded, gone, self.environ)
        problem = files_problem(declared, self.loaded, self.store.description)
        if problem:
            raise PlanError(problem)

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
        if not destroy and not self.options.allow_mass_delete:
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
            if change.address in done and change.pending:
                fields = ", ".join(f.path for f in change.fields) or change.reason
                problems.append(
                    f"{change.address}: the API accepted the {result.results[change.address].action.value} "
                    f"but the object read back still differs ({change.action.value}: {fields})"
                )
        return problems


def open_session(
    paths: list[Path],
    *,
    sandbox: bool,
    environ: Mapping[str, str],
    options: PlanOptions = PlanOptions(),
    endpoints: EndpointPool | None = None,
) -> Session:
    """A session over the stack at ``paths``, with its state store (or the sandbox's) and journal.

    ``endpoints`` (an ``app.fleet.endpoints.EndpointPool``) shares one transport per API endpoint."""
    loaded = load_stack(paths, environ)
    if sandbox:
        return _sandboxed(loaded, environ, options, endpoints, journal=True)
    from reconciler.state.select import open_store

    store = open_store(loaded.stack.state, loaded.root, environ)
    journal = loaded.root / ".reconciler" / "journal.jsonl"
    return Session(loaded, store, environ, journal_path=journal, endpoints=endpoints, options=options)


def open_export_session(paths: list[Path], *, sandbox: bool, environ: Mapping[str, str]) -> Session:
    """A session for export: the stack's provider settings when there is a stack; none needed.

    Without one, the providers come from the environment, and the state store is the default local
    file (export only reads it); no journal, as nothing is applied."""
    if paths or any(p.suffix in (".yaml", ".yml") for p in Path(".").iterdir()):
        return open_session(paths or [Path(".")], sandbox=sandbox, environ=environ)
    root = Path(".")
    loaded = LoadedStack(stack_model(frozenset()).model_validate({"version": 1}), [], [], root)
    if sandbox:
        return _sandboxed(loaded, environ, PlanOptions(), None, journal=False)
    return Session(loaded, LocalStateStore(root / ".reconciler" / "state.json"), environ)


def _sandboxed(
    loaded: LoadedStack,
    environ: Mapping[str, str],
    options: PlanOptions,
    endpoints: EndpointPool | None,
    *,
    journal: bool,
) -> Session:
    """A session on the in-process emulators; its state and journal live with the sandbox data, so
    a sandbox run never shares state with a real one."""
    from reconciler.sandbox.inprocess import InProcessSandbox
    from reconciler.sandbox.limits import from_environ

    sandbox_env = InProcessSandbox(loaded.root / ".reconciler" / "sandbox", limits=from_environ(environ))
    return Session(
        loaded,
        LocalStateStore(sandbox_env.state_path),
        environ,
        sandbox_env,
        journal_path=sandbox_env.data_dir / "journal.jsonl" if journal else None,
        endpoints=endpoints,
        options=options,
    )
