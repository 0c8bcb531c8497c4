"""The mass-delete guard (engine/deciding/safety.py): more than half of the managed resources, and
at least 5."""

from __future__ import annotations

import pytest

from reconciler.engine.deciding.plan import Action, Cause, Change, Plan
from reconciler.engine.deciding.safety import mass_delete_problem
from tests.support.changes import make_change


def plan_of(deletes: int, *others: Change) -> Plan:
    changes = [
        make_change(f"cores.c{i}", Action.DELETE, "gone", remote_id=f"cor_{i}") for i in range(deletes)
    ]
    return Plan((*changes, *others))


@pytest.mark.parametrize(
    ("deletes", "managed", "refused"),
    [
        (6, 8, True),  # 75%
        (5, 9, True),  # 56%, exactly the minimum count
        (4, 8, False),  # exactly half is allowed
        (5, 10, False),  # exactly half again, at the minimum count
        (4, 4, False),  # everything, but fewer than 5
        (6, 6, True),
        (0, 0, False),
    ],
)
def test_the_thresholds(deletes: int, managed: int, refused: bool) -> None:
    assert (mass_delete_problem(plan_of(deletes), managed) is not None) is refused


def test_the_message_counts_names_and_says_how_to_proceed() -> None:
    problem = mass_delete_problem(plan_of(7), 8)
    assert problem is not None
    assert "this plan would delete 7 of the 8 managed resources (88%" in problem
    assert "cores.c0, cores.c1, cores.c2, cores.c3, cores.c4 …" in problem
    assert "cores.c5" not in problem
    assert problem.endswith("run again with --allow-mass-delete")


def test_refused_and_deposed_deletes_do_not_count() -> None:
    refused = make_change("cores.p", Action.DELETE, "gone", remote_id="cor_p", refused="no")
    deposed = make_change("cores.k#deposed-x", Action.DELETE, "old", remote_id="x", deposed_of="cores.k")
    assert mass_delete_problem(plan_of(4, refused, deposed), 6) is None
    assert mass_delete_problem(plan_of(5, refused, deposed), 6) is not None


def test_updates_and_creates_do_not_count() -> None:
    others = [
        make_change(f"webhooks.w{i}", action, "x", cause=Cause.CONFIG, remote_id=f"wh_{i}")
        for i, action in enumerate([Action.UPDATE, Action.UPDATE, Action.CREATE])
    ]
    assert mass_delete_problem(plan_of(3, *others), 5) is None


def test_replaces_count_they_delete_the_old_object_and_its_data() -> None:
    """Issue 18: an anchor edit replaced 10 of 10 package instances (which hold data) unguarded."""
    replaces = [make_change(f"package_instances.p{i}", Action.REPLACE, "x", remote_id="") for i in range(10)]
    problem = mass_delete_problem(Plan(tuple(replaces)), 10)
    assert problem is not None
    assert "would delete 10 of the 10 managed resources (100%, 10 of them by a replace" in problem
    assert mass_delete_problem(plan_of(2, *replaces[:3]), 10) is None  # 5 of 10: exactly half
    assert mass_delete_problem(plan_of(3, *replaces[:3]), 10) is not None


def test_the_limits_are_configurable() -> None:
    assert mass_delete_problem(plan_of(2), 10, max_fraction=0.1, min_count=2) is not None
    assert mass_delete_problem(plan_of(9), 10, max_fraction=0.9, min_count=2) is None
