"""The one planning pipeline (app/planning.py) over the in-process emulators: every way of planning
goes through ``plan_run``, a saved plan included, and what it planned is a value, never kept on the
session."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref
from pathlib import Path

import pytest
import yaml

from reconciler.app.apply_run import ApplyRun, apply_stack
from reconciler.app.planning import PlannedRun, PlanOptions, Scope, plan_run
from reconciler.app.saved_plans import save
from reconciler.app.session import Session, open_session
from reconciler.engine.deciding.changes import Action
from reconciler.errors import PlanError
from tests.support.signaloid import CORE

NAMES = [f"c{i}" for i in range(6)]


def write(stack: Path, names: list[str]) -> None:
    doc = {"version": 1, "cores": {n: dict(CORE) for n in names}}
    stack.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def apply(stack: Path, planfile: Path | None = None, options: PlanOptions = PlanOptions()) -> ApplyRun:
    async def body() -> ApplyRun:
        async with open_session([stack], sandbox=True, environ={}) as session:
            return await apply_stack(
                session,
                destroy=False,
                parallelism=4,
                confirm=lambda _: True,
                show_plan=lambda _: None,
                on_notice=lambda _: None,
                planfile=planfile,
                options=options,
            )

    return asyncio.run(body())


def planned(stack: Path, scope: Scope = Scope(), out: Path | None = None) -> PlannedRun:
    async def body() -> PlannedRun:
        async with open_session([stack], sandbox=True, environ={}) as session:
            run = await plan_run(session, scope)
            if out is not None:
                save(session, run.plan, out)
            return run

    return asyncio.run(body())


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    write(path, NAMES)
    assert apply(path).ok
    return path


def test_the_session_holds_only_resources() -> None:
    assert [f.name for f in dataclasses.fields(Session)] == [
        "loaded", "store", "environ", "sandbox", "providers", "journal_path", "endpoints",
    ]  # fmt: skip


def test_a_planned_run_is_a_value(stack: Path) -> None:
    run = planned(stack)
    assert {c.action for c in run.plan.changes} == {Action.NO_OP}
    assert run.managed == len(NAMES) and run.live.objects["cores"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.plan = run.plan  # type: ignore[misc]


def test_destroy_and_scope_go_through_the_same_pipeline(stack: Path) -> None:
    destroy = planned(stack, Scope(destroy=True))
    assert {c.action for c in destroy.plan.changes} == {Action.DELETE}
    assert destroy.mass_delete_problem() is None, "a destroy is exempt from the guard"
    targeted = planned(stack, Scope(PlanOptions(targets=frozenset({"cores.c0"})), destroy=True))
    assert [c.address for c in targeted.plan.changes] == ["cores.c0"]
    other_kinds = planned(stack, Scope(kinds=frozenset({"webhooks"})))
    assert other_kinds.plan.changes == () and "cores" not in other_kinds.live.objects


def test_a_saved_plan_passes_the_same_mass_delete_guard(stack: Path, tmp_path: Path) -> None:
    write(stack, [])
    plan_file = tmp_path / "plan.json"
    run = planned(stack, out=plan_file)
    assert any("apply will refuse" in w for w in run.plan.warnings)
    with pytest.raises(PlanError, match="allow-mass-delete"):
        apply(stack, planfile=plan_file)
    done = apply(stack, planfile=plan_file, options=PlanOptions(allow_mass_delete=True))
    assert done.ok and done.result is not None
    assert {r.action for r in done.result.results.values()} == {Action.DELETE}
    assert not planned(stack).plan.has_changes()


def test_a_finished_run_holds_no_reference_cycle(stack: Path) -> None:
    """The live state's hooks into the planner are let go once planned: a run's objects are freed
    when it is dropped, not left to the cyclic collector (which cost a fleet ~0.4 ms per stack)."""
    gc.collect()
    gc.disable()
    try:
        run = planned(stack)
        assert run.live.on_added is None and run.live.on_listed is None
        live = weakref.ref(run.live)  # the planner held it, and it held the planner
        del run
        assert live() is None  # freed at once, by reference counting alone
    finally:
        gc.enable()
