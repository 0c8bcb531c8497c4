"""One check of one stack: read its files afresh, plan, write what its settings allow, report.

A stack whose files fail to load or validate is ``errored``; so is one that declares nothing
while its state manages resources (a YAML emptied by mistake, a half-synced checkout): a long
running loop never takes a stack it cannot read, or an empty one, as "delete everything".
:func:`check_stacks` checks a list of stacks concurrently: the one entry point for whatever runs
checks (the loop here; workers later).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    "StackCheck",
    "check_stack",
    "check_stacks",
    "scratch_folder",
    "state_stack_name",
]

HISTORY_SHOWN = 10


@dataclass(frozen=True)
class CheckContext:
    """What every check of a watch process shares."""

    environ: Mapping[str, str]
    pool: EndpointPool
    history: HistoryStore
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
    on_done: Callable[[StackRef, StackCheck], Awaitable[None]] | None = None,
) -> list[StackCheck]:
    """Check ``refs`` concurrently; one stack's failure is its own entry, never the others'.
    ``on_done`` is awaited as each check ends (not when the slowest does)."""

    async def one(ref: StackRef) -> StackCheck:
        check = await check_stack(ref, ctx)
        if on_done is not None:
            await on_done(ref, check)
        return check

    return list(await asyncio.gather(*(one(ref) for ref in refs)))


async def check_stack(ref: StackRef, ctx: CheckContext) -> StackCheck:
    started, checked_at, now = time.monotonic(), stamp(), time.time()
    allowed = ctx.defaults
    http: dict[str, dict[str, int]] = {}
    try:
        events = await ctx.history.recent(ref.name, scratch_folder(ref, ctx))
    except (OSError, ReconcilerError) as exc:
        return _errored(
            ref, ctx, f"cannot read the stack's watch history: {describe_error(exc)}", started, now, []
        )
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
        check = _errored(ref, ctx, describe_error(exc), started, now, events, http, previous, allowed)
        await _record(ctx, ref, check.events)
        return check
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
    await _record(ctx, ref, added)
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


async def _record(ctx: CheckContext, ref: StackRef, events: Sequence[Event]) -> None:
    if events:
        try:
            await ctx.history.append(ref.name, scratch_folder(ref, ctx), events)
        except (OSError, ReconcilerError) as exc:
            ctx.on_notice(ref.name, f"could not record the watch history: {describe_error(exc)}")


def _errored(
    ref: StackRef,
    ctx: CheckContext,
    message: str,
    started: float,
    started_at: float,
    events: Sequence[Event],
    http: Mapping[str, Mapping[str, int]] | None = None,
    previous: str | None = None,
    allowed: Permissions | None = None,
) -> StackCheck:
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
