"""Saved plans (``plan --out``, ``apply FILE``) over a :class:`~reconciler.app.session.Session`.

The decisions are pure and live in ``engine/deciding/saved.py``; the re-plan is the one pipeline
(``app/planning.py``), scoped to the kinds the saved plan touches; this module writes the file.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from reconciler.app.planning import PlannedRun, PlanOptions, Scope, plan_run
from reconciler.app.session import Session
from reconciler.engine.deciding import saved as saved_plans
from reconciler.engine.deciding.plan import Plan
from reconciler.errors import PlanError
from reconciler.values import LiveState

__all__ = ["plan_from_saved", "save"]


def save(session: Session, the_plan: Plan, out: Path) -> None:
    doc = saved_plans.dump(the_plan, session.loaded.files, sandbox=session.sandbox is not None)
    saved_plans.write(doc, out)


def _same_stack(saved: saved_plans.SavedPlan, session: Session) -> None:
    """Refuse a plan made from files none of which make this stack: each of its changes would
    otherwise be reported as "no longer in the configuration", which hides the real mistake."""
    made_from = {
        os.path.normpath(f.get("path", "")) for f in saved.meta.get("files") or () if isinstance(f, dict)
    }
    here = {os.path.normpath(p) for p in session.loaded.files}
    if made_from and not made_from & here:
        raise PlanError(
            f"{saved.path} is a plan for another stack: it was made from {', '.join(sorted(made_from))}, "
            f"and this stack is {', '.join(sorted(here))}; apply it with the -f it was made with"
        )


async def plan_from_saved(
    session: Session, saved: saved_plans.SavedPlan, options: PlanOptions = PlanOptions()
) -> tuple[PlannedRun, list[str]]:
    """Plan again, through the one pipeline, the kinds the saved plan touches, and return exactly the
    reviewed changes (and the addresses of changes found since, not applied). StalePlan if
    anything reviewed moved."""
    sandbox = session.sandbox is not None
    if bool(saved.meta.get("sandbox")) != sandbox:
        made = "with --sandbox" if saved.meta.get("sandbox") else "without --sandbox"
        raise PlanError(f"{saved.path} was made {made}; apply it the same way")
    _same_stack(saved, session)
    kinds = saved.kinds()
    if not kinds:
        return PlannedRun(Plan(()), LiveState()), []
    run = await plan_run(session, Scope(options, kinds=frozenset(kinds)))
    problems = saved_plans.check(saved, run.plan, run.live, session.loaded.resources)
    if problems:
        raise saved_plans.StalePlan(saved_plans.stale_message(problems))
    kept, others = saved_plans.restrict(saved, run.plan)
    return replace(run, plan=kept), others
