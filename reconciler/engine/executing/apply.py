"""Execute a Plan: each action starts as soon as the actions it depends on are done.

Concurrency is bounded (``parallelism``). A failed action stops its dependents (they are
reported "not started"); independent work carries on. State is recorded after every
successful call, so a crash or a kill loses nothing and the next plan resumes from there.

A state write that fails, or a lock found lost (``StateStore.fence``, checked before each
action), stops the run: nothing new starts, and the action whose write failed is reported as done
on the API but not recorded (``unrecorded``), with its id, so the summary never under-reports.
"""

from __future__ import annotations

import asyncio
import enum
import graphlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.engine.deciding.causes import field_digests
from reconciler.engine.deciding.changes import Action, Change, Plan
from reconciler.engine.executing.journal import Journal
from reconciler.engine.secrets import stored_key
from reconciler.errors import CreatedUnusable, ReconcilerError, StateError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.providers.base import Provider
from reconciler.state.base import StateEntry, StateStore, digest
from reconciler.values import Desired, LiveObject, Ref

__all__ = ["DEFAULT_PARALLELISM", "ApplyResult", "Outcome", "apply"]

# Actions at once, an upper bound: the calls in flight to each API adapt below it
# (providers/concurrency.py), so a high default costs nothing against a slow or throttling API.
DEFAULT_PARALLELISM = 64


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class ActionResult:
    address: str
    action: Action
    outcome: Outcome
    elapsed_s: float = 0.0
    remote_id: str | None = None
    error: str | None = None
    blocked_by: tuple[str, ...] = ()
    refused: bool = False  # refused by the plan (prevent_destroy, …): a new run refuses it again
    unrecorded: bool = False  # FAILED after the API call took effect: state could not record it
    note: str | None = None  # why a NOT_STARTED action was not started, when not blocked_by


@dataclass
class ApplyResult:
    results: dict[str, ActionResult] = field(default_factory=dict)

    def by_outcome(self, outcome: Outcome) -> list[ActionResult]:
        return [r for r in self.results.values() if r.outcome is outcome]

    @property
    def ok(self) -> bool:
        return all(r.outcome is Outcome.DONE for r in self.results.values())


# on_event(change, phase, result): phase is "start" or "end" (result given on "end").
EventHook = Callable[[Change, str, ActionResult | None], None]


async def apply(
    plan: Plan,
    providers: Mapping[str, Provider],
    store: StateStore,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_event: EventHook | None = None,
    journal: Journal | None = None,
    kinds: KindRegistry = REGISTRY,
) -> ApplyResult:
    """Execute ``plan`` with the ``kinds`` the run knows (the planner's registry)."""
    return await _Applier(plan, providers, store, parallelism, on_event, journal, kinds).run()


class _Applier:
    def __init__(
        self,
        plan: Plan,
        providers: Mapping[str, Provider],
        store: StateStore,
        parallelism: int,
        on_event: EventHook | None,
        journal: Journal | None,
        kinds: KindRegistry,
    ) -> None:
        self.kinds = kinds
        self.journal = journal
        self.plan = plan
        self.providers = providers
        self.store = store
        self.semaphore = asyncio.Semaphore(max(1, parallelism))
        self.on_event = on_event or (lambda *_: None)
        self.result = ApplyResult()
        # Remote id of every address, as known now; filled in as creates finish.
        self.ids: dict[str, str | None] = {c.address: c.remote_id for c in plan.changes}
        self.halted: str | None = None  # why the run stopped starting new work (state unwritable)

    async def run(self) -> ApplyResult:
        for address in self.plan.forget:
            await self.store.record(address, None)
        pending = {c.address: c for c in self.plan.pending()}
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for address, change in pending.items():
            sorter.add(address, *(d for d in change.depends_on if d in pending))
        sorter.prepare()
        running: dict[asyncio.Task[ActionResult], str] = {}
        # Finished tasks arrive here: O(1) per completion (asyncio.wait would walk every running
        # task, and all ready actions are running, most waiting for a slot of the semaphore).
        finished: asyncio.Queue[asyncio.Task[ActionResult]] = asyncio.Queue()
        try:
            while True:
                for address in () if self.halted else sorter.get_ready():
                    task = asyncio.create_task(self._run_one(pending[address]))
                    task.add_done_callback(finished.put_nowait)
                    running[task] = address
                if not running:
                    break
                task = await finished.get()
                address = running.pop(task)
                outcome = task.result()
                self.result.results[address] = outcome
                if outcome.outcome is Outcome.DONE:
                    sorter.done(address)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        failed = {a for a, r in self.result.results.items() if r.outcome is Outcome.FAILED}
        for address, change in pending.items():
            if address not in self.result.results:
                blockers = tuple(sorted(self._blockers(change, pending, failed)))
                self.result.results[address] = ActionResult(
                    address, change.action, Outcome.NOT_STARTED, blocked_by=blockers, note=self.halted
                )
        return self.result

    def _blockers(self, change: Change, pending: Mapping[str, Change], failed: set[str]) -> set[str]:
        """The failed actions this one (transitively) waited for."""
        found: set[str] = set()
        stack, seen = list(change.depends_on), set()
        while stack:
            dep = stack.pop()
            if dep in seen or dep not in pending:
                continue
            seen.add(dep)
            if dep in failed:
                found.add(dep)
            else:
                stack.extend(pending[dep].depends_on)
        return found

    async def _run_one(self, change: Change) -> ActionResult:
        if change.refused:
            result = ActionResult(
                change.address, change.action, Outcome.FAILED, 0.0, change.remote_id, change.refused,
                refused=True,
            )  # fmt: skip
            self.on_event(change, "end", result)
            return result
        async with _Slot(self.semaphore) as slot:
            stopped = await self._stopped()
            if stopped is not None:
                return ActionResult(change.address, change.action, Outcome.NOT_STARTED, note=stopped)
            self.on_event(change, "start", None)
            started = time.monotonic()
            call = await self._intent(change) if self.journal else ""
            try:
                remote_id = await self._execute(change, slot)
            except _NotRecorded as exc:
                result = ActionResult(
                    change.address,
                    change.action,
                    Outcome.FAILED,
                    time.monotonic() - started,
                    self.ids.get(change.address) or change.remote_id,
                    f"done on the API, but not recorded in state: {exc}",
                    unrecorded=True,
                )
            except ReconcilerError as exc:
                result = ActionResult(
                    change.address,
                    change.action,
                    Outcome.FAILED,
                    time.monotonic() - started,
                    change.remote_id,
                    str(exc),
                )
            else:
                result = ActionResult(
                    change.address, change.action, Outcome.DONE, time.monotonic() - started, remote_id
                )
            if self.journal:
                await self.journal.result(
                    call, change.address, result.outcome.value, result.remote_id, result.error
                )
            self.on_event(change, "end", result)
            return result

    async def _intent(self, change: Change) -> str:
        """Journal the call; a create with its natural key, so it can be found if its outcome is lost."""
        assert self.journal is not None
        kind, key = None, None
        if change.action in (Action.CREATE, Action.REPLACE) and change.desired is not None:
            kind = change.kind
            key = tuple(self.kinds[kind].natural_key(change.desired.name, change.desired.create_attrs))
        return await self.journal.intent(change.address, change.action.value, change.remote_id, kind, key)

    async def _stopped(self) -> str | None:
        """Why no new action may start: the run was halted, or the state lock is found lost."""
        if self.halted is None:
            try:
                await self.store.fence()
            except StateError as exc:
                self.halted = f"stopped: {exc}"
        return self.halted

    async def _write(self, address: str, entry: StateEntry | None) -> None:
        """``store.record``, after the API call took effect: a failure halts the run."""
        try:
            await self.store.record(address, entry)
        except StateError as exc:
            self.halted = self.halted or f"stopped: state could not be written ({exc})"
            raise _NotRecorded(str(exc)) from exc

    def _resolve(self, desired: Desired, attrs: Mapping[str, Any]) -> dict[str, Any]:
        def remote_id(ref: Ref) -> str:
            found = self.ids.get(ref.address)
            if found is None:
                raise ReconcilerError(f"{desired.address}: {ref.address} has no remote id yet")
            return found

        return self.kinds[desired.kind].resolve_refs(attrs, remote_id)

    async def _record(
        self, desired: Desired, obj: LiveObject, deposed: tuple[str, ...] = (), settled: tuple[str, ...] = ()
    ) -> None:
        """Record ``obj`` for ``desired``; old objects a create_before_destroy replace left behind stay
        recorded (``deposed`` adds one, ``settled`` drops one), so none becomes an orphan."""
        self.ids[desired.address] = obj.remote_id
        # The key as the stack declares it: an update may have changed the live object's key fields.
        kind = self.kinds[desired.kind]
        key = stored_key(desired, kind)  # a part holding a value from ${env:…} as a digest
        current = self.store.read().get(desired.address)
        left = [i for i in (current.deposed if current else ()) if i not in settled]
        left += [i for i in deposed if i not in left]
        entry = StateEntry(
            desired.kind,
            obj.remote_id,
            key,
            digest(desired.attrs),
            # still protected after the resource leaves the YAML
            prevent_destroy=bool(desired.lifecycle and desired.lifecycle.prevent_destroy),
            deposed=tuple(left),
            applied_fields=field_digests(desired.attrs, kind.sensitive_fields | desired.sensitive),
            # Kind.state_fields: what the API cannot report is remembered as applied.
            state_fields={f: desired.create_attrs[f] for f in kind.state_fields},
            provider_data=obj.extra,
        )
        await self._write(desired.address, entry)

    async def _drop_deposed(self, owner: str, old_id: str) -> None:
        entry = self.store.read().get(owner)
        if entry is None:
            return
        await self._write(owner, replace(entry, deposed=tuple(i for i in entry.deposed if i != old_id)))

    async def _execute(self, change: Change, slot: _Slot) -> str | None:
        remote_id = await self._execute_action(change, slot)
        if change.moved_from:
            # Renamed in the configuration: the new address now holds it; forget the old one.
            await self._write(change.moved_from, None)
        return remote_id

    async def _execute_action(self, change: Change, slot: _Slot) -> str | None:
        """The action's calls, holding ``slot`` (one of ``--parallelism``); it is released before a
        final state record, which waits for the disk, not for an API."""
        provider = self.providers[self.kinds[change.kind].provider]
        desired, live = change.desired, change.live
        if change.action is Action.DELETE:
            assert live is not None
            await provider.delete(change.kind, live)
            if change.deposed_of:
                await self._drop_deposed(change.deposed_of, live.remote_id)
            else:
                await self._write(change.address, None)
            return None
        assert desired is not None
        if not change.action.calls_api:  # adopt, move, state-only: only state changes
            assert live is not None
            slot.release()
            await self._record(desired, live)
            return live.remote_id
        if change.action is Action.REPLACE and change.create_before_destroy:
            assert live is not None
            # The old object stays recorded as deposed until it is gone, so a failure or a crash
            # between the two calls never loses track of it: the next plan deletes it.
            obj = await provider.create(desired, self._resolve(desired, desired.create_attrs))
            await self._record(desired, obj, deposed=(live.remote_id,))
            await provider.delete(change.kind, live)
            await self._record(desired, obj, settled=(live.remote_id,))
            return obj.remote_id
        if change.action is Action.REPLACE:
            assert live is not None
            await provider.delete(change.kind, live)
            await self._write(change.address, None)
        if change.action in (Action.CREATE, Action.REPLACE):
            try:
                obj = await provider.create(desired, self._resolve(desired, desired.create_attrs))
            except CreatedUnusable as exc:
                # The object exists: ours to replace or delete next time, not an unmanaged orphan.
                if isinstance(exc.obj, LiveObject):
                    await self._record(desired, exc.obj)
                raise
            except ReconcilerError as exc:
                if change.action is Action.REPLACE and live is not None:
                    raise ReconcilerError(
                        f"the old object {live.remote_id} was deleted, but creating its replacement failed "
                        f"({exc}); run apply again to create it"
                    ) from exc
                raise
            slot.release()
            await self._record(desired, obj)
            return obj.remote_id
        assert live is not None and change.action is Action.UPDATE
        changed = {f.field for f in change.fields}
        updated = await provider.update(desired, live, self._resolve(desired, desired.attrs), changed)
        slot.release()
        await self._record(desired, updated or live)
        return live.remote_id


class _NotRecorded(ReconcilerError):
    """An action's API call took effect but state could not record it."""


class _Slot:
    """One of the ``--parallelism`` slots, held while an action calls an API; ``release`` may come
    early (once the calls are done) and is idempotent."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = False

    async def __aenter__(self) -> _Slot:
        await self.semaphore.acquire()
        self.held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self.held:
            self.held = False
            self.semaphore.release()
