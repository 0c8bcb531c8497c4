"""One check of one stack: read its files afresh, plan, write what its settings allow, report.

A stack whose files fail to load or validate is ``errored``; so is one that declares nothing
while its state manages resources (a YAML emptied by mistake, a half-synced checkout): a long
running loop never takes a stack it cannot read, or an empty one, as "delete everything".
:func:`check_stacks` checks a list of stacks concurrently: the one entry point for the loop.

Where a check runs is a :class:`Checker`: :class:`InProcess` (here), or ``remote.InWorkers``
(worker processes, ``--workers N``). Either way this process reads each stack's history before
its check and records the events after it (``check_stack``): the history, like the schedule and
the notifications, stays in one place; :func:`evaluate_stack` (load, plan, decide, apply, report)
is the part that runs wherever the checker puts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.app.fleet.discover import StackRef
from reconciler.app.fleet.model import errored_stack, stack_result, stamp
from reconciler.app.fleet.run import describe_error, http_figures
from reconciler.app.watch.history import (
    Event,
    HistoryStore,
    Outcome,
    contested_addresses,
    marked_contested,
    transitions,
)
from reconciler.app.watch.pipeline import apply_allowed, plan_stack
from reconciler.app.watch.policy import Decision, Permissions, decide, is_drift, narrow, permissions
from reconciler.engine.deciding.plan import Plan
from reconciler.engine.executing.apply import Outcome as ActionOutcome
from reconciler.errors import LockHeld, PlanError, ReconcilerError
from reconciler.providers.endpoints import EndpointPool

if TYPE_CHECKING:
    from reconciler.app.session import Session

__all__ = [
    "CheckContext",
    "Checker",
    "InProcess",
    "StackCheck",
    "check_stack",
    "check_stacks",
    "errored_check",
    "evaluate_stack",
    "scratch_folder",
    "state_stack_name",
]

HISTORY_SHOWN = 10


@dataclass(frozen=True)
class CheckContext:
    """What every check of a watch process shares (in a worker process: its own, from the job)."""

    environ: Mapping[str, str]
    pool: EndpointPool
    defaults: Permissions
    suspend_all: Callable[[], bool]
    contested_after: int = 3
    contested_window_s: float = 3600.0
    sandbox: bool = False
    replica: str = ""
    # Where journals (and the local history) go instead of each stack's folder, which a git-sync
    # checkout may hold read-only: WORK_DIR/<stack's state name>/.reconciler/.
    work_dir: Path | None = None
    on_notice: Callable[[str, str], None] = lambda _stack, _line: None


@dataclass(frozen=True)
class StackCheck:
    """One check's report entry (the fleet report's stack entry with a ``watch`` part), the
    events it added, and what the next due time needs."""

    result: dict[str, Any]
    events: tuple[Event, ...]
    failed: bool
    interval_s: float
    started: float = 0.0  # Unix time the check began
    healed: tuple[str, ...] = ()
    synced: tuple[str, ...] = ()
    http: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As a worker process sends it back (``from_json`` reads it)."""
        return {
            "result": self.result,
            "events": [e.to_json() for e in self.events],
            "failed": self.failed,
            "interval_s": self.interval_s,
            "started": self.started,
            "healed": list(self.healed),
            "synced": list(self.synced),
            "http": self.http,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StackCheck:
        return cls(
            dict(doc["result"]),
            tuple(Event.from_json(e) for e in doc["events"]),
            failed=bool(doc["failed"]),
            interval_s=float(doc["interval_s"]),
            started=float(doc["started"]),
            healed=tuple(str(a) for a in doc["healed"]),
            synced=tuple(str(a) for a in doc["synced"]),
            http={str(api): dict(figures) for api, figures in doc["http"].items()},
        )


class Checker(Protocol):
    """Where checks run: this process (:class:`InProcess`) or worker processes (``remote``)."""

    async def evaluate(self, ref: StackRef, events: Sequence[Event]) -> StackCheck:
        """One check of ``ref`` whose history so far is ``events`` (its events not yet recorded)."""
        ...

    def new_round(self) -> None:
        """A new discovery round: reads shared by stacks of one account are made afresh."""
        ...


@dataclass(frozen=True)
class InProcess:
    """Checks in this process, on its one event loop (``--workers 1``)."""

    ctx: CheckContext

    async def evaluate(self, ref: StackRef, events: Sequence[Event]) -> StackCheck:
        return await evaluate_stack(ref, self.ctx, events)

    def new_round(self) -> None:
        self.ctx.pool.forget_reads()


def scratch_folder(ref: StackRef, ctx: CheckContext) -> Path:
    """The folder whose ``.reconciler/`` holds the stack's journal and local watch history."""
    return ctx.work_dir / state_stack_name(ref) if ctx.work_dir is not None else ref.path


def state_stack_name(ref: StackRef) -> str:
    """The name a stack's rows go by in PostgreSQL state when its YAML names none: its path under
    its ``--stacks`` folder (one fleet, one database: the stacks never share rows or a lock)."""
    return ref.relative if ref.relative != "." else ref.path.name


async def check_stacks(
    refs: Sequence[StackRef],
    ctx: CheckContext,
    history: HistoryStore,
    checker: Checker | None = None,
    on_done: Callable[[StackRef, StackCheck], Awaitable[None]] | None = None,
) -> list[StackCheck]:
    """Check ``refs`` concurrently (``checker``: in this process by default); one stack's failure
    is its own entry, never the others'. ``on_done`` is awaited as each check ends (not when the
    slowest does)."""
    where = checker or InProcess(ctx)

    async def one(ref: StackRef) -> StackCheck:
        check = await check_stack(ref, ctx, history, where)
        if on_done is not None:
            await on_done(ref, check)
        return check

    return list(await asyncio.gather(*(one(ref) for ref in refs)))


async def check_stack(
    ref: StackRef, ctx: CheckContext, history: HistoryStore, checker: Checker
) -> StackCheck:
    """Read the stack's history, check it (wherever ``checker`` runs checks), record its events."""
    started, now = time.monotonic(), time.time()
    try:
        events = await history.recent(ref.name, scratch_folder(ref, ctx))
    except (OSError, ReconcilerError) as exc:
        message = f"cannot read the stack's watch history: {describe_error(exc)}"
        return errored_check(ref, ctx, message, started, now, [])
    check = await checker.evaluate(ref, events)
    if check.events:
        try:
            await history.append(ref.name, scratch_folder(ref, ctx), check.events)
        except (OSError, ReconcilerError) as exc:
            ctx.on_notice(ref.name, f"could not record the watch history: {describe_error(exc)}")
    return check


async def evaluate_stack(ref: StackRef, ctx: CheckContext, events: Sequence[Event]) -> StackCheck:
    """Load, plan, decide, apply what is allowed, report: the check itself, given its history."""
    started, checked_at, now = time.monotonic(), stamp(), time.time()
    allowed = ctx.defaults
    http: dict[str, dict[str, int]] = {}
    previous = events[-1].status if events else None
    contested = contested_addresses(
        events, now=now, window_s=ctx.contested_window_s, limit=ctx.contested_after
    )
    marked = marked_contested(events)
    environ = {**ctx.environ, "RECONCILER_STATE_STACK": state_stack_name(ref)}
    try:
        from reconciler.app.session import open_session

        session = open_session([ref.path], sandbox=ctx.sandbox, environ=environ, endpoints=ctx.pool)
        if ctx.work_dir is not None and not ctx.sandbox:
            session.journal_path = scratch_folder(ref, ctx) / ".reconciler" / "journal.jsonl"
        async with session:
            try:
                allowed = permissions(session.loaded.stack.watch, ctx.defaults, suspend_all=ctx.suspend_all())
                managed = len(session.store.read().entries)
                if not session.loaded.resources and managed:
                    raise ReconcilerError(
                        f"the stack declares no resources while its state manages {managed}: taken as a "
                        "mistake (an emptied or half-written file), never as 'delete everything'. To delete "
                        "them on purpose, run `reconciler destroy` on this stack"
                    )
                the_plan = await plan_stack(session)
                decision = decide(the_plan, allowed, contested)
                did = _Applied()
                if decision.apply:
                    did = await _apply(
                        session, allowed, contested, lambda line: ctx.on_notice(ref.name, line), ref.name
                    )
                    if did.applied:
                        the_plan = await plan_stack(session)  # report what is there now
            finally:
                http = http_figures(session.http_stats())
        result = stack_result(
            ref.name,
            the_plan.to_json(),
            checked_at=checked_at,
            duration_s=time.monotonic() - started,
            http=http,
        )
    except Exception as exc:  # the stack's own failure: its entry, never the process's
        return errored_check(ref, ctx, describe_error(exc), started, now, events, http, allowed)
    drifted_now = {c.address for c in the_plan.pending() if is_drift(c)}
    newly = tuple(sorted(a for a in contested - marked if a in drifted_now))  # changed yet again
    back = tuple(sorted(a for a in marked if a not in drifted_now))
    outcome = Outcome(
        status=result["status"],
        synced=did.synced,
        healed=did.healed,
        apply_error=did.error,
        contested=newly,
        uncontested=back,
        pending_addresses=tuple(c["address"] for c in result["changes"]),
    )
    added = transitions(previous, outcome, at=time.time(), replica=ctx.replica)
    still_contested = sorted((marked | set(newly)) - set(back))
    result["watch"] = _watch_part(
        allowed, decide(the_plan, allowed, still_contested), still_contested, [*events, *added], did
    )
    return StackCheck(
        result,
        tuple(added),
        failed=did.error is not None,
        interval_s=allowed.interval_s,
        started=now,
        healed=did.healed,
        synced=did.synced,
        http=http,
    )


@dataclass(frozen=True)
class _Applied:
    applied: bool = False
    healed: tuple[str, ...] = ()
    synced: tuple[str, ...] = ()
    error: str | None = None


async def _apply(
    session: Session, allowed: Permissions, contested: set[str], on_notice: Callable[[str], None], stack: str
) -> _Applied:
    def allowed_part(fresh: Plan) -> Plan:
        return narrow(fresh, decide(fresh, allowed, contested))

    try:
        run = await apply_allowed(session, allowed_part, on_notice, stack=stack)
    except LockHeld as exc:  # a person's apply holds the stack: not a failure; the next check retries
        on_notice(f"not applied this time: {exc}")
        return _Applied()
    except (PlanError, ReconcilerError) as exc:  # the mass-delete guard, a lost lock, an API down
        return _Applied(error=describe_error(exc))
    if run.denied and run.verdict is not None:
        return _Applied(error=f"denied by policy ({run.verdict.denial_count()} denial(s)): nothing written")
    if run.result is None:
        return _Applied()
    changes = {c.address: c for c in run.plan.changes}
    done = [a for a, r in sorted(run.result.results.items()) if r.outcome is ActionOutcome.DONE]
    healed = tuple(a for a in done if a in changes and is_drift(changes[a]))
    synced = tuple(a for a in done if a not in healed)
    failures = [
        f"{r.address}: {r.error or r.outcome.value}"
        for r in run.result.results.values()
        if r.outcome is ActionOutcome.FAILED
    ]
    problems = [*failures, *run.problems]
    return _Applied(bool(done), healed, synced, "; ".join(problems)[:2000] if problems else None)


def errored_check(
    ref: StackRef,
    ctx: CheckContext,
    message: str,
    started: float,
    started_at: float,
    events: Sequence[Event],
    http: Mapping[str, Mapping[str, int]] | None = None,
    allowed: Permissions | None = None,
) -> StackCheck:
    """An ``errored`` check (its ``errored`` transition if the last event was not one)."""
    previous = events[-1].status if events else None
    result = errored_stack(
        ref.name, message, checked_at=stamp(), duration_s=time.monotonic() - started, http=http or {}
    )
    added = transitions(
        previous, Outcome(status="errored", error=message), at=time.time(), replica=ctx.replica
    )
    allowed = allowed or ctx.defaults
    result["watch"] = _watch_part(allowed, Decision(frozenset(), {}), [], [*events, *added], _Applied())
    return StackCheck(
        result, tuple(added), failed=True, interval_s=allowed.interval_s, started=started_at, http=http or {}
    )


def _watch_part(
    allowed: Permissions,
    decision: Decision,
    contested: Sequence[str],
    events: Sequence[Event],
    did: _Applied,
) -> dict[str, Any]:
    return {
        "settings": allowed.to_json(),
        "held": [{"address": a, "why": why} for a, why in sorted(decision.held.items())],
        "contested": list(contested),
        "healed": list(did.healed),
        "synced": list(did.synced),
        "apply_error": did.error,
        "history": [e.to_json() for e in events[-HISTORY_SHOWN:]],
    }
