"""The one seam between ``watch`` and planning/applying: a check plans as ``drift`` does, a write
goes through the same apply sequence as ``reconciler apply`` (lock, journal, plan again under the
lock, apply, verify), cut down to what the stack's settings allow. When the planning pipeline
changes, this file is the one place watch follows it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from reconciler.app.apply_run import ApplyRun, apply_stack
from reconciler.app.planning import plan_run
from reconciler.app.session import Session
from reconciler.engine.deciding.plan import Plan

__all__ = ["WATCH_PARALLELISM", "apply_allowed", "plan_stack"]

WATCH_PARALLELISM = 16  # actions at once per stack; the calls per API adapt below it


async def plan_stack(session: Session) -> Plan:
    """Refresh and plan through the one pipeline, read-only and without the lock (as ``drift``)."""
    return (await plan_run(session)).plan


async def apply_allowed(
    session: Session, allowed: Callable[[Plan], Plan], on_notice: Callable[[str], None], *, stack: str
) -> ApplyRun:
    """Apply what ``allowed`` keeps of a plan made afresh under the stack's lock (no wait for it:
    a person's ``apply`` holding it wins, and the next check tries again). The stack's own
    policies (its ``policy:`` block) judge that plan as they judge ``apply``'s; a denial writes
    nothing (``ApplyRun.denied``)."""
    from reconciler.app.policy_gate import PolicyChoice, Verdict, open_gate

    gate = open_gate(PolicyChoice(), session.loaded, session.environ, stack=stack)
    async with contextlib.AsyncExitStack() as scope:
        judge = None
        if gate is not None:
            await scope.enter_async_context(gate)

            async def judge(the_plan: Plan) -> Verdict:
                return await gate.judge(the_plan.to_json(), "apply")

        return await apply_stack(
            session,
            destroy=False,
            parallelism=WATCH_PARALLELISM,
            confirm=lambda _plan: True,
            show_plan=lambda _plan: None,
            on_notice=on_notice,
            narrow=allowed,
            judge=judge,
        )
