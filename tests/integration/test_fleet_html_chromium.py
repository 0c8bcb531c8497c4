"""The fleet HTML report as a person sees it: a real fleet run's report, opened in headless
Chromium from a file (as from a CI artifact, offline), its DOM counts checked against the JSON,
and a screenshot that shows the status colours of the stacks present and not the others."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from reconciler.app.fleet.html import COLOURS
from tests.support.chromium import Elements, dump_dom, rgb, screenshot
from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet, drift_outside
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
    summary = {a["data-status"]: int(a["data-count"]) for a in dom.having("td", "n") if "data-count" in a}
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
