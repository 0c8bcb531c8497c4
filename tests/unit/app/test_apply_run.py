"""The apply sequence (app/apply_run.py) over the in-process emulators: the command line's part is
only the callbacks, so what is applied, asked and reported is checked here without click."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from reconciler.app.apply_run import ApplyRun, apply_stack
from reconciler.app.planning import PlanOptions, plan_run
from reconciler.app.session import open_session
from reconciler.engine.deciding.plan import Plan
from tests.support.examples import pristine_example

STARTS: list[int] = []  # one entry per on_start call of the last _apply


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return pristine_example("quickstart", tmp_path / "quickstart")


def _apply(stack: Path, answer: bool, options: PlanOptions | None = None) -> tuple[ApplyRun, list[Plan]]:
    asked: list[Plan] = []
    STARTS.clear()

    def confirm(the_plan: Plan) -> bool:
        asked.append(the_plan)
        return answer

    async def body() -> ApplyRun:
        async with open_session([stack], sandbox=True, environ={}) as session:
            return await apply_stack(
                session,
                destroy=False,
                parallelism=4,
                confirm=confirm,
                show_plan=lambda _: None,
                on_notice=print,
                on_start=lambda _plan: STARTS.append(1),
                options=options or PlanOptions(),
            )

    return asyncio.run(body()), asked


def _pending(stack: Path) -> int:
    async def body() -> int:
        async with open_session([stack], sandbox=True, environ={}) as session:
            the_plan = (await plan_run(session)).plan
            return sum(1 for c in the_plan.changes if c.pending)

    return asyncio.run(body())


def test_a_declined_confirmation_applies_nothing(stack: Path) -> None:
    done, asked = _apply(stack, answer=False)
    assert len(asked) == 1 and asked[0].has_changes()
    assert done.result is None and done.plan is asked[0]
    assert _pending(stack) == 4, "still all four to create"
    assert STARTS == [], "declined: the apply never started"


def test_a_confirmed_apply_converges_and_counts_its_calls(stack: Path) -> None:
    done, _ = _apply(stack, answer=True)
    assert done.ok and done.result is not None and not done.problems
    assert STARTS == [1], "told once that the changes go ahead"
    assert done.calls is not None and done.calls["signaloid"].requests > 0
    assert _pending(stack) == 0
    again, asked_again = _apply(stack, answer=True)
    assert asked_again == [] and again.result is None, "nothing to do: not asked, nothing applied"


def test_plan_options_are_a_frozen_value_the_plan_honours(stack: Path) -> None:
    options = PlanOptions(targets=frozenset({"cores.fast-athens"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.targets = frozenset()  # type: ignore[misc]
    done, _ = _apply(stack, answer=True, options=options)
    assert done.result is not None and set(done.result.results) == {"cores.fast-athens"}
    assert _pending(stack) == 3
