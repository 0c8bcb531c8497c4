"""The one planning pipeline: ``plan_run(session, scope) -> PlannedRun``.

Every command that plans goes through here, in the same order of steps: ``plan``, ``drift``,
``apply`` and ``destroy``, ``apply FILE`` (a saved plan, scoped to the kinds it touches), the check
after apply, and the fleet. The steps (see ARCHITECTURE.md, "The flow of one plan"):

1. read state and the journal of an interrupted apply (its creates of unknown outcome);
2. refresh the kinds in play from every API at once, planning each kind as soon as its lists
   are in (``engine.deciding.plan_as_listed``);
3. find the interrupted creates' objects by natural key, and plan again with them recorded;
4. word a destroy, cut to ``--target`` / ``--exclude``, refuse deleting what a stack file beside
   the loaded ones still declares (``app/stack_files.py``), and judge the mass-delete guard.

The result is a value: nothing is stashed on the session for a later step to find.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.app.planned import PlannedRun, PlanOptions, Scope
from reconciler.app.session import Session
from reconciler.engine.deciding.changes import Action, Plan
from reconciler.engine.deciding.deletes import for_destroy
from reconciler.engine.deciding.plan import plan
from reconciler.engine.deciding.plan_as_listed import PlanAsListed
from reconciler.engine.deciding.select import select
from reconciler.engine.executing.apply import ApplyResult, Outcome
from reconciler.engine.executing.pending import explain, resolve
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state import StateEntry, StateSnapshot
from reconciler.values import LiveState

__all__ = ["PlanOptions", "PlannedRun", "Scope", "plan_run", "verify"]


async def plan_run(session: Session, scope: Scope = Scope(), kinds: KindRegistry = REGISTRY) -> PlannedRun:
    """Refresh and plan the stack of ``session`` within ``scope``, with the ``kinds`` the run knows.
    Reads state, the journal and the APIs; writes nothing."""
    snapshot = session.store.read()
    desired = [] if scope.destroy else session.loaded.resources
    pending = session.pending_creates(kinds)
    if scope.kinds is None:
        listed = session.kinds_in_play(snapshot, desired, kinds) | {p.kind for p in pending}
        state = snapshot
    else:
        listed = set(scope.kinds)
        pending = [p for p in pending if p.kind in listed]
        desired = [d for d in desired if d.kind in listed]
        # The other kinds are not re-read: planning them would see them all as missing.
        state = StateSnapshot({a: e for a, e in snapshot.entries.items() if e.kind in listed})
    allowed = scope.options.allow_delete_unmanaged
    live = LiveState()
    planning = PlanAsListed(desired, live, state, pending=listed, allow_delete_unmanaged=allowed, kinds=kinds)
    live.on_added, live.on_listed = planning.added, planning.listed
    try:
        await session.refresh(listed, live, kinds)
        the_plan = planning.finish()
    finally:
        # The hooks make a reference cycle (live -> planning -> live): let go of it, so the run's
        # objects are freed as soon as it ends, not by the cyclic collector (a fleet's ~600 objects
        # per stack, ~0.4 ms of collection each).
        live.on_added = live.on_listed = None
    adopted: Mapping[str, StateEntry] = {}
    if pending:
        resolved = resolve(pending, live, snapshot, desired, kinds)
        adopted = resolved.entries
        if resolved.entries:  # planned again, with what the interrupted creates made recorded
            overlaid = StateSnapshot({**state.entries, **resolved.entries})
            the_plan = plan(desired, live, overlaid, allow_delete_unmanaged=allowed, kinds=kinds)
        the_plan = explain(the_plan, resolved)
    if scope.destroy:
        the_plan = for_destroy(the_plan)
    address = session.loaded.address  # a --target / --exclude address may use ${var.…}
    targets, excludes = map(address, scope.options.targets), map(address, scope.options.excludes)
    the_plan = select(the_plan, targets, excludes, strict=not scope.checking)
    if not scope.destroy:
        _check_stack_files(session, the_plan)
    run = PlannedRun(the_plan, live, scope, adopted, tuple(pending), len(snapshot.entries))
    problem = run.mass_delete_problem()
    if problem:
        warned = replace(the_plan, warnings=(*the_plan.warnings, f"apply will refuse: {problem}"))
        run = replace(run, plan=warned)
    return run


def _check_stack_files(session: Session, the_plan: Plan) -> None:
    """Refuse a plan that deletes what a stack file beside the loaded ones, or one the stack was
    last applied with, still declares: the state was made with that file too
    (``app/stack_files.py``, docs/state.md)."""
    gone = [c.address for c in the_plan.pending() if c.action is Action.DELETE and not c.deposed_of]
    if not gone:
        return
    from reconciler.app.stack_files import applied_with, declared_beside, files_problem

    also = applied_with(session.loaded, session.store)
    declared = declared_beside(session.loaded, gone, session.environ, also=also)
    problem = files_problem(declared, session.loaded, session.store.description)
    if problem:
        raise PlanError(problem)


async def verify(
    session: Session, run: PlannedRun, result: ApplyResult, kinds: KindRegistry = REGISTRY
) -> list[str]:
    """The check after apply: re-read what changed, within the run's scope, and name what still
    differs from the configuration (``kinds``: the run's, as it was planned and applied with)."""
    done = {a for a, r in result.results.items() if r.outcome is Outcome.DONE}
    if not done:
        return []
    after = await plan_run(session, replace(run.scope, checking=True), kinds)
    problems = []
    for change in after.plan.changes:
        if change.address in done and change.pending:
            fields = ", ".join(f.path for f in change.fields) or change.reason
            problems.append(
                f"{change.address}: the API accepted the {result.results[change.address].action.value} "
                f"but the object read back still differs ({change.action.value}: {fields})"
            )
    return problems
