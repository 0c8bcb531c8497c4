"""A run's session: the loaded stack, its state store, providers and journal, and the stages that
use them (refresh, apply). Planning is ``app/planning.py``. ``open_session`` is the one place a
session is built."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.app.planned import PlannedRun
from reconciler.config import LoadedStack, VariableInputs, load_stack
from reconciler.config.stack import stack_model
from reconciler.config.variables import NO_INPUTS
from reconciler.engine.executing.apply import ApplyResult, EventHook, apply
from reconciler.engine.executing.journal import Journal
from reconciler.engine.executing.pending import PendingCreate, pending_creates
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.providers import Provider, build_providers
from reconciler.providers.stats import CallStats
from reconciler.state import LocalStateStore, StateSnapshot, StateStore
from reconciler.values import Desired, LiveState

if TYPE_CHECKING:
    from reconciler.providers.endpoints import EndpointPool
    from reconciler.sandbox.inprocess import InProcessSandbox

__all__ = ["Session", "open_export_session", "open_session"]


@dataclass
class Session:
    """The resources of a run over one stack: the loaded stack, its state store, the providers
    (built when first needed) and the journal's path. What a run planned is a value of its own
    (``app.planning.PlannedRun``), never kept here."""

    loaded: LoadedStack
    store: StateStore
    environ: Mapping[str, str]
    sandbox: InProcessSandbox | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    journal_path: Path | None = None
    # One transport per API endpoint shared with other sessions of the run (fleet drift), or None.
    endpoints: EndpointPool | None = None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        self.store.close()

    def provider_for(self, kinds: set[str], registry: KindRegistry = REGISTRY) -> dict[str, Provider]:
        """The providers of ``kinds`` (names in ``registry``), built when first needed."""
        needed = {registry[k].provider for k in kinds}
        missing = needed - set(self.providers)
        if missing:
            self.providers.update(
                build_providers(
                    self.loaded.stack.providers,
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

    def kinds_in_play(
        self, snapshot: StateSnapshot, desired: list[Desired] | None = None, registry: KindRegistry = REGISTRY
    ) -> set[str]:
        """Every kind of every provider the stack or its state uses: the unmanaged inventory
        covers a provider's other kinds too, at one list call each (those whose unmanaged objects
        are shown at all without a declared one: not ``Kind.inventory == False``)."""
        desired = self.loaded.resources if desired is None else desired
        used = {r.kind for r in desired} | snapshot.kinds()
        providers = {registry[k].provider for k in used}
        return {k.name for k in registry if k.provider in providers and (k.inventory or k.name in used)}

    async def refresh(
        self, kinds: set[str], live: LiveState | None = None, registry: KindRegistry = REGISTRY
    ) -> LiveState:
        """List every kind in play, all providers at once (into ``live``, if given)."""
        live = LiveState() if live is None else live
        providers = self.provider_for(kinds, registry)
        await asyncio.gather(
            *(
                p.refresh({k for k in kinds if registry[k].provider == name}, live)
                for name, p in providers.items()
            )
        )
        for kind in sorted(kinds):  # for a provider that does not say so itself
            live.listed(kind)
        return live

    async def apply(
        self,
        run: PlannedRun,
        *,
        parallelism: int,
        on_event: EventHook | None = None,
        kinds: KindRegistry = REGISTRY,
    ) -> ApplyResult:
        """Apply ``run.plan``, journalled; refuses a mass delete unless the run's scope allows it.

        First records the objects of interrupted creates the planning found (``run.adopted``),
        before ``begin()`` replaces the journal that told of them."""
        problem = run.mass_delete_problem()
        if problem:
            raise PlanError(problem)
        journal = Journal(self.journal_path) if self.journal_path else None
        if journal is not None:
            current = self.store.read()
            for address, entry in run.adopted.items():
                if current.get(address) != entry:
                    await self.store.record(address, entry)
            journal.begin()
        try:
            return await apply(
                run.plan,
                self.provider_for({c.kind for c in run.plan.pending()}, kinds),
                self.store,
                parallelism=parallelism,
                on_event=on_event,
                journal=journal,
                kinds=kinds,
            )
        finally:
            if journal is not None:
                journal.end()

    def pending_creates(self, kinds: KindRegistry = REGISTRY) -> list[PendingCreate]:
        """Creates the last apply left in flight (outcome unknown), from its journal."""
        if self.journal_path is None:
            return []
        interrupted = Journal(self.journal_path).previous()
        return pending_creates(interrupted.unfinished, kinds) if interrupted is not None else []

    def report_interrupted(self, on_notice: Callable[[str], None]) -> bool:
        """Say what an earlier apply that did not finish left in flight; True when there was one.

        Called under the lock, before planning, so the notice comes even when the plan then has
        nothing left to do (the interrupted calls had all landed, or were undone by hand)."""
        if self.journal_path is None:
            return False
        interrupted = Journal(self.journal_path).previous()
        if interrupted is None:
            return False
        for line in interrupted.describe():
            on_notice(line)
        return True

    def settle_journal(self, run: PlannedRun) -> None:
        """Nothing is left to do: what an interrupted run left in flight is accounted for (unless a
        create it left is still to be recorded: outside ``--target``, say; the journal keeps it)."""
        if self.journal_path is not None and not run.adopted:
            self.journal_path.unlink(missing_ok=True)


def open_session(
    paths: list[Path],
    *,
    sandbox: bool,
    environ: Mapping[str, str],
    endpoints: EndpointPool | None = None,
    inputs: VariableInputs = NO_INPUTS,
) -> Session:
    """A session over the stack at ``paths``, with its state store (or the sandbox's) and journal.

    ``endpoints`` (a ``providers.endpoints.EndpointPool``) shares one transport per API endpoint;
    ``inputs``: the stack's --var / --var-file."""
    loaded = load_stack(paths, environ, inputs)
    if sandbox:
        return _sandboxed(loaded, environ, endpoints, journal=True)
    from reconciler.state.select import open_store

    store = open_store(loaded.stack.state, loaded.root, environ)
    journal = loaded.root / ".reconciler" / "journal.jsonl"
    return Session(loaded, store, environ, journal_path=journal, endpoints=endpoints)


def open_export_session(
    paths: list[Path], *, sandbox: bool, environ: Mapping[str, str], inputs: VariableInputs = NO_INPUTS
) -> Session:
    """A session for export: the stack's provider settings when there is a stack; none needed.

    Without one, the providers come from the environment, and the state store is the default local
    file (export only reads it); no journal, as nothing is applied."""
    if paths or any(p.suffix in (".yaml", ".yml") for p in Path(".").iterdir()):
        return open_session(paths or [Path(".")], sandbox=sandbox, environ=environ, inputs=inputs)
    root = Path(".")
    loaded = LoadedStack(stack_model(frozenset()).model_validate({"version": 1}), [], [], root)
    if sandbox:
        return _sandboxed(loaded, environ, None, journal=False)
    return Session(loaded, LocalStateStore(root / ".reconciler" / "state.json"), environ)


def _sandboxed(
    loaded: LoadedStack,
    environ: Mapping[str, str],
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
    )
