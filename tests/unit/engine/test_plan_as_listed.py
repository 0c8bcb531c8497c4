"""``PlanAsListed`` plans while the refresh lists; whatever order the pages come in, its plan is
the one :func:`plan` makes from the complete lists.

Every plan case (tests/plan_cases) is fed to it in many random orders: each kind's objects split
into random pages, the kinds' pages interleaved at random, each kind declared complete at a
random point after its last page (Signaloid's default cores just before the cores are).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.deciding.plan import Plan, plan
from reconciler.engine.deciding.plan_as_listed import PlanAsListed
from reconciler.errors import PlanError
from reconciler.kinds import KINDS
from reconciler.state.base import StateEntry, StateSnapshot, digest
from reconciler.values import Desired, LiveObject, LiveState
from tests.support.plan_cases import CASE_FILES, desired_from, live_from, load_case, state_from

ORDERS_PER_CASE = 12


def events(live: LiveState, rng: random.Random) -> list[tuple[str, str, Any]]:
    """("page", kind, objects) and ("listed", kind, None), each kind's in order, kinds interleaved."""
    per_kind: list[list[tuple[str, str, Any]]] = []
    for kind in (k.name for k in KINDS):
        objects = list(live.objects.get(kind, []))
        steps: list[tuple[str, str, Any]] = []
        while objects:
            size = rng.randint(1, max(1, len(objects)))
            steps.append(("page", kind, objects[:size]))
            objects = objects[size:]
        steps.append(("listed", kind, None))
        per_kind.append(steps)
    merged: list[tuple[str, str, Any]] = []
    while any(per_kind):
        steps = rng.choice([s for s in per_kind if s])
        merged.append(steps.pop(0))
    return merged


def plan_as_listed(desired: list[Desired], complete: LiveState, state: StateSnapshot, seed: int) -> Plan:
    live = LiveState()
    planning = PlanAsListed(desired, live, state, pending=[k.name for k in KINDS])
    live.on_added, live.on_listed = planning.added, planning.listed
    for step, kind, objects in events(complete, random.Random(seed)):
        if step == "page":
            live.extend(kind, objects)
        else:
            if kind in complete.external_ids:
                live.external_ids[kind] = set(complete.external_ids[kind])
            live.listed(kind)
    return planning.finish()


def outcome(make: Any) -> Any:
    try:
        result = make()
    except PlanError as exc:
        return ("error", str(exc))
    return (result.to_json(), [o.remote_id for o in result.unmanaged], result.forget, result.warnings)


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_the_plan_is_the_same_whatever_order_the_pages_come_in(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    desired = desired_from(case.get("desired") or {}, tmp_path, case.get("files"))
    live, state = live_from(case), state_from(case, desired)
    expected = outcome(lambda: plan(desired, live, state))
    for seed in range(ORDERS_PER_CASE):
        got = outcome(lambda seed=seed: plan_as_listed(desired, live, state, seed))
        assert got == expected, f"order {seed}"


def core(name: str, precision: int) -> Desired:
    attrs = {"class": "C0", "precision": precision}
    return Desired("cores", name, attrs, attrs)


def live_core(remote_id: str, name: str, precision: int) -> LiveObject:
    return LiveObject("cores", remote_id, (name,), {"class": "C0", "precision": precision}, name)


def test_a_resource_tied_by_state_is_planned_from_its_page_before_the_list_is_complete() -> None:
    desired = [core("a", 8), core("b", 8)]
    state = StateSnapshot(
        {f"cores.{n}": StateEntry("cores", f"cor_{n}", (n,), digest(desired[0].attrs)) for n in "ab"}
    )
    live = LiveState()
    planning = PlanAsListed(desired, live, state, pending=["cores"])
    live.on_added, live.on_listed = planning.added, planning.listed
    live.extend("cores", [live_core("cor_a", "a", 8)])
    assert planning.planned_ahead == 1
    live.extend("cores", [live_core("cor_b", "b", 16)])
    assert planning.planned_ahead == 2
    live.listed("cores")
    changes = {c.address: c.action.value for c in planning.finish().changes}
    assert changes == {"cores.a": "no-op", "cores.b": "update"}


def test_an_object_listed_twice_is_planned_from_its_last_copy_as_plan_does() -> None:
    desired = [core("a", 8)]
    state = StateSnapshot({"cores.a": StateEntry("cores", "cor_a", ("a",), digest(desired[0].attrs))})
    first, last = live_core("cor_a", "a", 8), live_core("cor_a", "a", 32)
    live = LiveState()
    planning = PlanAsListed(desired, live, state, pending=["cores"])
    live.on_added, live.on_listed = planning.added, planning.listed
    live.extend("cores", [first])
    live.extend("cores", [last])
    live.listed("cores")
    got = planning.finish()
    assert got.to_json() == plan(desired, LiveState({"cores": [first, last]}), state).to_json()
    assert got.changes[0].action.value == "update"


def test_a_planning_error_waits_for_finish() -> None:
    """Raised after the refresh, so a refresh failure would be the one reported."""
    desired = [core("a", 8)]
    live = LiveState()
    planning = PlanAsListed(desired, live, StateSnapshot(), pending=["cores"])
    live.on_added, live.on_listed = planning.added, planning.listed
    live.extend("cores", [live_core("cor_1", "a", 8), live_core("cor_2", "a", 8)])  # two match "a"
    live.listed("cores")
    with pytest.raises(PlanError, match="2 live cores match its natural key"):
        planning.finish()
