"""Saved plans (``plan --out``, ``apply FILE``) over a :class:`~reconciler.app.session.Session`.

The decisions are pure and live in ``engine/saved.py``; this module only reads live state and
state for them, and writes the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.app.session import Session
from reconciler.engine import saved as saved_plans
from reconciler.engine.pending import explain
from reconciler.engine.plan import Plan, plan
from reconciler.errors import PlanError
from reconciler.state import StateSnapshot

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


async def plan_from_saved(session: Session, saved: saved_plans.SavedPlan) -> tuple[Plan, list[str]]:
    """Re-read the kinds the saved plan touches, re-plan them, and return exactly the reviewed changes
    (and the addresses of changes found since, not applied). StalePlan if anything reviewed moved."""
    sandbox = session.sandbox is not None
    if bool(saved.meta.get("sandbox")) != sandbox:
        made = "with --sandbox" if saved.meta.get("sandbox") else "without --sandbox"
        raise PlanError(f"{saved.path} was made {made}; apply it the same way")
    _same_stack(saved, session)
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
    now = plan(desired, live, state, allow_delete_unmanaged=session.options.allow_delete_unmanaged)
    if resolved is not None:
        now = explain(now, resolved)
    problems = saved_plans.check(saved, now, live, session.loaded.resources)
    if problems:
        raise saved_plans.StalePlan(saved_plans.stale_message(problems))
    return saved_plans.restrict(saved, now)
