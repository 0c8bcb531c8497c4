"""The apply sequence, for ``apply`` and ``destroy``: lock → journal → plan → confirm → apply → verify.

The command line supplies what is its own: how the plan is shown, how confirmation is asked, how
progress and notices are printed. Everything between is here, in the order that keeps a run safe:
the journal of an interrupted run is read under the lock before planning; a reviewed plan file is
re-checked against live state and applied exactly, or refused as stale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.app.planning import PlanOptions, Scope, plan_run, verify
from reconciler.app.session import Session
from reconciler.app.stack_files import remember_files
from reconciler.engine.deciding.plan import Plan
from reconciler.engine.executing.apply import ApplyResult, EventHook
from reconciler.providers.stats import CallStats
from reconciler.state.waiting import LockWatcher

if TYPE_CHECKING:
    from reconciler.app.policy_gate import Verdict

__all__ = ["ApplyRun", "apply_stack"]


@dataclass(frozen=True)
class ApplyRun:
    """What an apply did. ``result`` is None when nothing was applied (no changes, or not confirmed)."""

    plan: Plan
    result: ApplyResult | None = None
    problems: tuple[str, ...] = ()  # what the check after apply found still differing
    calls: dict[str, CallStats] | None = None  # API calls per provider, the plan's included
    verdict: Verdict | None = None  # what the policies said, when the run has any

    @property
    def denied(self) -> bool:
        """A policy denied the plan: nothing was applied."""
        return self.verdict is not None and self.verdict.denied

    @property
    def ok(self) -> bool:
        return not self.denied and (self.result is None or (self.result.ok and not self.problems))


async def apply_stack(
    session: Session,
    *,
    destroy: bool,
    parallelism: int,
    confirm: Callable[[Plan], bool],
    show_plan: Callable[[Plan], None],
    on_notice: Callable[[str], None],
    on_event: EventHook | None = None,
    on_start: Callable[[Plan], None] | None = None,
    on_check: Callable[[], None] | None = None,
    lock_timeout: float = 0.0,
    lock_watcher: LockWatcher | None = None,
    planfile: Path | None = None,
    options: PlanOptions = PlanOptions(),
    judge: Callable[[Plan], Awaitable[Verdict]] | None = None,
    narrow: Callable[[Plan], Plan] | None = None,
) -> ApplyRun:
    """Apply the stack (or destroy it; or, with ``planfile``, exactly that reviewed plan, unasked).

    ``narrow`` cuts the plan made under the lock down to what may be applied (``reconciler
    watch``). ``judge`` (the run's policies) is asked about the plan about to be applied, a saved
    plan's included (policies may have changed since it was made); a denial applies nothing, before
    any write call and before ``confirm``. ``confirm`` is asked only when there are changes and no
    plan file; False applies nothing. ``on_start`` is called with the plan once its changes are going
    ahead, before the first action; ``on_check`` once the actions are over, before the check after
    apply reads live state again. ``lock_watcher`` hears of a wait for another run's lock."""
    async with session.store.lock(
        "destroy" if destroy else "apply", timeout=lock_timeout, watcher=lock_watcher
    ):
        interrupted = session.report_interrupted(on_notice)
        if planfile is not None:  # a reviewed plan: exactly its actions, or nothing (stale)
            from reconciler.app.saved_plans import plan_from_saved
            from reconciler.engine.deciding.saved import load

            run, unreviewed = await plan_from_saved(session, load(planfile), options)
            for address in unreviewed:
                on_notice(f"Note: {address} has changes not in {planfile}; not applied.")
        else:
            run = await plan_run(session, Scope(options, destroy=destroy))
            if not destroy:  # the files this state is applied with, for the next plan's check
                remember_files(session.loaded, session.store)
        if narrow is not None:  # the mass-delete guard judges what is left, when applying it
            run = replace(run, plan=narrow(run.plan))
        the_plan = run.plan
        show_plan(the_plan)
        verdict = await judge(the_plan) if judge is not None else None
        if verdict is not None and verdict.denied:
            return ApplyRun(the_plan, verdict=verdict)
        if not the_plan.has_changes():
            if interrupted:
                session.settle_journal(run)
            return ApplyRun(the_plan, verdict=verdict)
        if planfile is None and not confirm(the_plan):
            return ApplyRun(the_plan, verdict=verdict)
        if on_start is not None:
            on_start(the_plan)
        result = await session.apply(run, parallelism=parallelism, on_event=on_event)
        if on_check is not None:
            on_check()
        problems = await verify(session, run, result)
        return ApplyRun(the_plan, result, tuple(problems), session.http_stats(), verdict)
