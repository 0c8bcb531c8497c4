"""The run's deadline (``RECONCILER_RUN_TIMEOUT``): parsed strictly, and it stops a run that hangs."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.cli.deadline import DEFAULT_RUN_TIMEOUT_S, RunTimedOut, run_deadline, within
from reconciler.errors import ReconcilerError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, DEFAULT_RUN_TIMEOUT_S), ("", DEFAULT_RUN_TIMEOUT_S), ("90", 90.0), ("2.5", 2.5), ("0", None)],
)
def test_the_deadline_from_the_environment(value: str | None, seconds: float | None) -> None:
    environ = {} if value is None else {"RECONCILER_RUN_TIMEOUT": value}
    assert run_deadline(environ) == seconds


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_value_that_is_not_a_number_of_seconds_is_an_error(value: str) -> None:
    expected = rf"RECONCILER_RUN_TIMEOUT='{value}': expected a number of seconds"
    with pytest.raises(ReconcilerError, match=expected):
        run_deadline({"RECONCILER_RUN_TIMEOUT": value})


def test_a_run_that_never_ends_is_stopped_at_its_deadline() -> None:
    async def hangs() -> int:
        await asyncio.Event().wait()  # nothing ever sets it
        return 0

    with pytest.raises(RunTimedOut, match=r"did not finish within 0\.05s \(RECONCILER_RUN_TIMEOUT\)"):
        asyncio.run(within(hangs(), 0.05))


def test_a_run_that_ends_in_time_returns_its_result() -> None:
    async def quick() -> int:
        return 2

    assert asyncio.run(within(quick(), 5)) == 2 and asyncio.run(within(quick(), None)) == 2
