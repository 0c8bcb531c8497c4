"""The watch page's next command for a stack repeats how watch checks it (``--sandbox``)."""

from __future__ import annotations

from reconciler.app.fleet.model import stack_result
from reconciler.app.watch.page import render_page, stacks_document
from tests.support.fleet import change, plan_doc


def test_a_sandbox_watch_suggests_sandbox_commands() -> None:
    pending = stack_result(
        "stacks/a", plan_doc(change("cores.x", cause="config", precision=(64, 128))),
        checked_at="2026-01-02T03:04:05Z", duration_s=0.1, http={},
    )  # fmt: skip
    for sandbox, command in (
        (True, "reconciler apply --sandbox -f stacks/a"),
        (False, "reconciler apply -f stacks/a"),
    ):
        doc = stacks_document(
            {"stacks/a": pending}, replica="r", suspended=False, discovery_error=None, sandbox=sandbox
        )
        assert doc["checked_with"]["sandbox"] is sandbox
        assert f"<code>{command}</code>" in render_page(doc, refresh_s=5)
