"""Counts in words are right for 0, 1 and 2; durations read as people write them."""

from __future__ import annotations

import pytest

from reconciler.app.fleet.model import fleet_report, stack_result
from reconciler.app.fleet.text import render_text
from reconciler.common.words import plural, seconds, singular
from tests.support.fleet import change, plan_doc


@pytest.mark.parametrize(
    ("count", "noun", "said"),
    [(0, "stack", "0 stacks"), (1, "stack", "1 stack"), (2, "stack", "2 stacks"),
     (1, "entry", "1 entry"), (2, "entry", "2 entries"), (2, "key", "2 keys"), (2, "change", "2 changes")],
)  # fmt: skip
def test_plural(count: int, noun: str, said: str) -> None:
    assert plural(count, noun) == said


def test_seconds_and_singular() -> None:
    assert [seconds(s) for s in (29.8131, 30.0, 0.5, 300, 0.05, 2.345)] == [
        "29.8s", "30s", "0.5s", "300s", "0.05s", "2.35s",
    ]  # fmt: skip
    assert [singular(k) for k in ("cores", "repositories", "package_instances")] == [
        "core", "repository", "package instance",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("count", "said"), [(0, "0 stacks checked"), (1, "1 stack checked"), (2, "2 stacks checked")]
)
def test_the_fleet_table_counts_stacks_in_words(count: int, said: str) -> None:
    stacks = [
        stack_result(
            f"fleet/s{i}", plan_doc(change("cores.a", "no-op", None)), checked_at="t", duration_s=0.1, http={}
        )
        for i in range(count)
    ]
    text = render_text(fleet_report(stacks, generated_at="2026-01-01T00:00:00Z", duration_s=0.1))
    assert said in text.splitlines()[0]


@pytest.mark.parametrize("count", [0, 1, 2])
def test_every_fleet_and_apply_count_is_in_words(count: int) -> None:
    """The fleet's Markdown and notification, the watch page and its events, the API call summary
    and an interrupted apply's message, each with 0, 1 and 2."""
    from reconciler.app.fleet.markdown import render_markdown
    from reconciler.app.fleet.model import notification
    from reconciler.app.watch.history import Outcome, transitions
    from reconciler.app.watch.page import render_page, stacks_document
    from reconciler.cli.console import http_summary
    from reconciler.cli.interrupt import InFlight
    from reconciler.providers.stats import CallStats

    stacks = {
        f"fleet/s{i}": stack_result(
            f"fleet/s{i}", plan_doc(change("cores.a", "no-op", None)), checked_at="t", duration_s=0.1, http={}
        )
        for i in range(count)
    }
    report = fleet_report(stacks.values(), generated_at="2026-01-01T00:00:00Z", duration_s=0.1)
    stacks_said = plural(count, "stack")
    assert f"{stacks_said} checked at" in render_markdown(report)
    assert notification(report)["text"].startswith(f"reconciler fleet drift: {stacks_said}: ")
    page = render_page(
        stacks_document(stacks, replica="r", suspended=False, discovery_error=None), refresh_s=5
    )
    assert f"Watching {stacks_said};" in page

    addresses = tuple(f"cores.c{i}" for i in range(count))
    if count:
        outcome = Outcome("in_sync", synced=addresses, healed=addresses)
        said = [e.message for e in transitions(None, outcome, at=0.0, replica="r")]
        resources = plural(count, "resource")
        assert f"applied configuration to {resources}" in said and f"reverted drift of {resources}" in said

    stats = CallStats(requests=count or 1, retries=count)
    requests = "1 request" if count < 2 else "2 requests"
    assert http_summary({"signaloid": stats}) == [
        f"  signaloid: {requests}, {plural(count, 'retry')}, 0 rate-limited (429)"
    ]
    flight = InFlight("apply", applying=True, finished=count)
    assert f"{plural(count, 'change')} finished" in flight.lines()[0]
