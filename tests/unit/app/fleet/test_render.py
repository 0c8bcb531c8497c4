"""Markdown (size-capped), HTML (escaped, self-contained) and Prometheus renderings of a fleet report."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from reconciler.app.fleet import render
from reconciler.app.fleet.markdown import render_markdown
from reconciler.app.fleet.model import errored_stack, fleet_report, stack_result
from tests.support.fleet import change, plan_doc

AT = "2026-01-02T03:04:05Z"


def report(drifted: int = 2, in_sync: int = 1, errored: int = 1) -> dict[str, Any]:
    stacks = [
        stack_result(
            f"fleet/d{i}",
            plan_doc(
                change("cores.x", precision=(64, 128)),
                change("webhooks.w", cause="config", description=("a", "b")),
            ),
            checked_at=AT,
            duration_s=0.2,
            http={"signaloid": {"requests": 4, "retries": 1, "rate_limited": 0}},
        )
        for i in range(drifted)
    ]
    stacks += [
        stack_result(
            f"fleet/ok{i}",
            plan_doc(change("cores.y", action="no-op", cause=None)),
            checked_at=AT,
            duration_s=0.1,
            http={},
        )
        for i in range(in_sync)
    ]
    stacks += [
        errored_stack(
            f"fleet/bad{i}",
            "stack.yaml:3:6: cores.x.precision: required\nsecond problem",
            checked_at=AT,
            duration_s=0.0,
            http={},
        )
        for i in range(errored)
    ]
    return fleet_report(stacks, generated_at=AT, duration_s=1.5)


def test_markdown_summarises_then_lists_each_change_with_its_cause() -> None:
    text = render_markdown(report())
    assert "4 stacks checked at 2026-01-02T03:04:05Z in 1.5s: **1** errored, **2** drifted" in text
    assert "| `fleet/d0` | 🟠 drifted | 1 | 1 | cores, webhooks |" in text
    assert "  - `precision` (drift): `64` → `128`" in text
    assert "  - `description` (config): `a` → `b`" in text
    assert "fleet/ok0" not in text  # in-sync stacks are only counted


def test_markdown_stays_under_its_size_cap_and_says_what_it_left_out() -> None:
    big = report(drifted=400, in_sync=0, errored=0)
    text = render_markdown(big, limit=20_000)
    assert len(text) <= 20_000
    shown = len(re.findall(r"^### ", text, flags=re.MULTILINE))
    assert 0 < shown < 400
    assert f"the changes of {400 - shown} more stacks are not shown here" in text


def test_in_sync_fleet_says_so() -> None:
    assert "Every stack is in sync." in render_markdown(report(drifted=0, errored=0))


def test_html_is_self_contained_escaped_and_carries_the_counts() -> None:
    doc = report()
    doc["stacks"][0]["name"] = "fleet/<script>alert(1)</script>"
    page = render(doc, "html")
    assert page.count("<script") == 1 and "&lt;script&gt;" in page  # the page's own filter only
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)  # nothing fetched from a network
    assert "<link" not in page and "@import" not in page
    assert 'data-status="drifted" data-count="2"' in page
    assert len(re.findall(r'<tr class="stack errored"', page)) == 1
    assert '<details class="stack"' in page and 'data-status="drifted" open>' in page


def test_prometheus_exposition_parses_and_counts_drift_per_stack_kind_and_cause() -> None:
    text = render(report(), "prometheus")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    key = (("cause", "drift"), ("kind", "cores"), ("stack", "fleet/d1"))
    assert samples[("reconciler_drift_resources", key)] == 1
    assert samples[("reconciler_drift_stack_status", (("stack", "fleet/bad0"), ("status", "errored")))] == 1
    assert samples[("reconciler_drift_stack_status", (("stack", "fleet/ok0"), ("status", "drifted")))] == 0
    assert samples[("reconciler_drift_fleet_stacks", (("status", "drifted"),))] == 2
    assert samples[("reconciler_drift_api_retries", (("api", "signaloid"), ("stack", "fleet/d0")))] == 1
    assert samples[("reconciler_drift_last_check_timestamp_seconds", (("stack", "fleet/d0"),))] == 1767323045
    assert samples[("reconciler_drift_check_duration_seconds", (("stack", "fleet/d0"),))] == 0.2


def test_a_change_with_both_causes_is_counted_and_shown_under_each() -> None:
    both = change("cores.x", cause="config", precision=(64, 128, "config"), memory_size=(1, 2, "drift"))
    one = fleet_report(
        [stack_result("fleet/b", plan_doc(both), checked_at=AT, duration_s=0.1, http={})],
        generated_at=AT,
        duration_s=0.1,
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(render(one, "prometheus"))
        for s in f.samples
        if s.name == "reconciler_drift_resources"
    }
    assert samples == {
        ("reconciler_drift_resources", (("cause", c), ("kind", "cores"), ("stack", "fleet/b"))): 1
        for c in ("config", "drift")
    }
    text = render_markdown(one)
    assert "- `cores.x` update (config, drift): changed outside reconciler" in text
    assert "  - `memory_size` (drift): `1` → `2`" in text
    page = render(one, "html")
    assert (
        '<tr class="change drifted"><td><code>cores.x</code></td><td>update</td><td><code>memory_size' in page
    )
