"""The fleet HTML report as a person sees it: a real fleet run's report, opened in headless
Chromium from a file (as from a CI artifact, offline), its DOM counts checked against the JSON,
and a screenshot that shows the status colours of the stacks present and not the others; and a
300-stack report: problems first, errored counts unknown, pending open, the filter and search."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from reconciler.app.fleet import render
from reconciler.app.fleet.html import COLOURS
from reconciler.app.fleet.model import checked_with, errored_stack, fleet_report, stack_result
from tests.support.chromium import Elements, dump_dom, rgb, screenshot
from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet, change, drift_outside, plan_doc
from tests.support.png import colours
from tests.support.sandbox import StartSandbox


def test_the_html_report_renders_in_chromium_with_the_json_counts(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 3)
    drift_outside(sandbox.signaloid_url, "key-2", "s2-b", 16)
    (root / "broken").mkdir()
    (root / "broken" / "stack.yaml").write_text("version: 1\ncores: [\n")
    result = run_cli("drift", "--stacks", root, "--format", "json")
    assert result.exit_code == 1, result
    report_json = tmp_path / "report.json"
    report_json.write_text(result.stdout)
    html = run_cli("report", "merge", report_json, "--format", "html")
    assert html.exit_code == 1
    page = tmp_path / "report.html"
    page.write_text(html.stdout, encoding="utf-8")
    report: dict[str, Any] = result.json()

    dom = Elements()
    dom.feed(dump_dom(page))
    summary = {a["data-status"]: int(a["data-count"]) for a in dom.having("button", "tile")}
    assert summary == {s: report["summary"][s] for s in ("errored", "drifted", "pending", "in_sync")}
    assert summary == {"errored": 1, "drifted": 1, "pending": 0, "in_sync": 2}
    rows = Counter(a["data-status"] for a in dom.having("tr", "stack"))
    assert rows == Counter(s["status"] for s in report["stacks"])
    details = {a["data-name"]: a for a in dom.having("details", "stack")}
    assert set(details) == {s["name"] for s in report["stacks"]}
    assert "open" in details[f"{root.as_posix()}/team-0/env-2"]  # a drifted stack opens on its changes
    assert "open" not in details[f"{root.as_posix()}/team-1/env-1"]
    assert len(dom.having("tr", "change")) == 1
    assert not [a for _, a in dom.found if a.get("src") or a.get("rel") == "stylesheet"]  # nothing fetched

    shot = colours(screenshot(page, tmp_path / "report.png"))
    for status in ("errored", "drifted", "in_sync"):
        assert shot[rgb(COLOURS[status])] > 500, f"no {status} colour on the screenshot"
    assert shot[rgb(COLOURS["pending"])] == 0  # no pending stack: its colour is nowhere


AT = "2026-01-02T03:04:05Z"
MIX = {"errored": 6, "drifted": 24, "pending": 30, "in_sync": 240}  # 300 stacks


def big_report() -> dict[str, Any]:
    """300 stacks of two teams, their statuses spread through the names (so sorting by name would
    bury the problems among in-sync rows)."""
    statuses = [s for s, n in MIX.items() for _ in range(n)]
    stacks = []
    for i in range(len(statuses)):
        status = statuses[i * 37 % len(statuses)]  # 37 is prime to 300: every status, spread out
        name = f"stacks/team-{i % 10}/svc-{i:03d}"
        if status == "errored":
            stacks.append(errored_stack(name, f"{name}/stack.yaml:3:1: invalid YAML", checked_at=AT,
                                        duration_s=0.1, http={}))  # fmt: skip
            continue
        changes = []
        if status == "drifted":
            changes = [change("cores.a", precision=(64, 128)), change("cores.b", action="no-op", cause=None)]
        elif status == "pending":
            changes = [
                change("cores.a", cause="config", precision=(64, 128)),
                change("cores.b", "no-op", None),
            ]
        else:
            changes = [change("cores.a", "no-op", None), change("cores.b", "no-op", None)]
        stacks.append(stack_result(name, plan_doc(*changes), checked_at=AT, duration_s=0.2, http={}))
    return fleet_report(stacks, generated_at=AT, duration_s=4.2, how=checked_with(sandbox=True))


def test_a_300_stack_page_puts_problems_first_and_filters(tmp_path: Path) -> None:
    report = big_report()
    assert report["summary"]["stacks"] == 300
    page = tmp_path / "fleet.html"
    page.write_text(render(report, "html"), encoding="utf-8")

    dom = Elements()
    dom.feed(dump_dom(page))
    rows = dom.having("tr", "stack")
    order = [a["data-status"] for a in rows]
    assert order == [s for s in MIX for _ in range(MIX[s])], (
        "severity order: errored, drifted, pending, in sync"
    )
    names = [a["data-name"] for a in rows]
    assert names[:6] == sorted(names[:6])  # by name within a status
    assert not any("hidden" in a for a in rows)  # everything shown at first
    details = {a["data-name"]: a for a in dom.having("details", "stack")}
    assert all(("open" in a) == (a["data-status"] != "in_sync") for a in details.values()), "problems open"
    text = dump_dom(page)
    first_errored = text.split('<tr class="stack errored"', 1)[1].split("</tr>", 1)[0]
    assert first_errored.count(">?</td>") == 3 and ">0</td>" not in first_errored  # unknown, not zero
    assert "reconciler plan --sandbox -f stacks/team-" in first_errored  # checked with --sandbox: so is it
    assert text.count("reconciler apply --sandbox -f stacks/team-") >= 30  # each pending stack's next step
    assert 'id="legend"' in text and text.count("<li ") == 4

    filtered = Elements()
    filtered.feed(dump_dom(page, fragment="status=drifted,pending&q=team-3/"))
    visible = [a for a in filtered.having("tr", "stack") if "hidden" not in a]
    expected = [
        s for s in report["stacks"] if s["status"] in ("drifted", "pending") and "team-3/" in s["name"]
    ]
    assert {a["data-name"] for a in visible} == {s["name"] for s in expected} and expected
    shown_count = dump_dom(page, fragment="status=errored").split('id="shown">', 1)[1].split("<", 1)[0]
    assert shown_count == "6 of 300 stacks shown"

    shot_file = screenshot(page, tmp_path / "fleet.png", size=(1280, 900))
    shot = colours(shot_file)
    for status in ("errored", "drifted", "pending"):  # the problems are on the first screen
        assert shot[rgb(COLOURS[status])] > 500, f"no {status} colour on the first screen"
