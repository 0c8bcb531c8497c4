"""The apply summary suggests running again only when another run could help."""

from __future__ import annotations

from reconciler.cli.console import apply_summary
from reconciler.engine.deciding.changes import Action
from reconciler.engine.executing.apply import ActionResult, ApplyResult, Outcome

AGAIN = "run destroy again to finish"


def _result(*results: ActionResult) -> ApplyResult:
    return ApplyResult({r.address: r for r in results})


def test_a_refusal_alone_is_not_fixed_by_running_again() -> None:
    refused = ActionResult("cores.db", Action.DELETE, Outcome.FAILED, error="prevent_destroy", refused=True)
    waiting = ActionResult("repositories.r", Action.DELETE, Outcome.NOT_STARTED, blocked_by=("cores.db",))
    lines = apply_summary(_result(refused, waiting), "destroy")
    assert not any(AGAIN in line for line in lines)
    assert "Running destroy again would be refused the same way" in lines[-1]


def test_a_failed_call_or_an_interruption_is_worth_another_run() -> None:
    failed = ActionResult("cores.a", Action.DELETE, Outcome.FAILED, error="HTTP 503")
    assert AGAIN in apply_summary(_result(failed), "destroy")[-1]
    refused = ActionResult("cores.db", Action.DELETE, Outcome.FAILED, error="prevent_destroy", refused=True)
    interrupted = ActionResult("cores.b", Action.DELETE, Outcome.NOT_STARTED)
    assert AGAIN in apply_summary(_result(refused, interrupted), "destroy")[-1]
