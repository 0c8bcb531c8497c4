"""Issue 30: policies in a fleet run. Each stack's verdict is in its report entry (JSON), in the
Markdown, the HTML and the Prometheus metrics; a denial makes the fleet exit 1; ``--policy`` judges
every stack, a stack's own ``policy:`` block only that stack."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet
from tests.support.sandbox import StartSandbox

LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "policy"


def test_each_stacks_policy_results_are_in_every_format_of_the_report(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    start_sandbox()
    root = tmp_path / "fleet"
    folders = applied_fleet(root, run_cli, 2)
    # Stack 0 raises a precision past the library's bound (a denial); stack 1 gets its own block
    # with a warning rule.
    first = folders[0] / "stack.yaml"
    first.write_text(first.read_text().replace("precision: 64", "precision: 1024"), encoding="utf-8")
    own = folders[1]
    (own / "checks").mkdir()
    (own / "checks" / "warn.rego").write_text(
        'package main\n\nimport rego.v1\n\nwarn contains "<b>look</b> | twice" if true\n', encoding="utf-8"
    )
    doc = yaml.safe_load((own / "stack.yaml").read_text())
    doc["policy"] = {"paths": ["checks"]}
    (own / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")

    result = run_cli("drift", "--stacks", root, "--policy", LIBRARY, "--format", "json")
    assert result.exit_code == 1, result  # a denial wins over pending changes
    report = result.json()
    assert report["summary"]["policy_denied"] == 1 and report["exit_code"] == 1
    by_name = {Path(s["name"]).name: s for s in report["stacks"]}
    denied, warned = by_name[folders[0].name], by_name[folders[1].name]
    assert denied["policy"]["denied"] is True
    (library_result,) = denied["policy"]["results"]
    assert library_result["denials"][0]["msg"] == "cores.s0-b: precision 1024 is above 256"
    assert warned["policy"]["denied"] is False
    assert [r["warnings"] for r in warned["policy"]["results"]][1][0]["msg"] == "<b>look</b> | twice"
    assert "denied by policy" in result.stderr

    markdown = run_cli("drift", "--stacks", root, "--policy", LIBRARY, "--format", "markdown").stdout
    assert "**Denied by policy: 1 stack.**" in markdown
    assert "⛔ policy denies (`deny_core_precision`): cores.s0-b: precision 1024 is above 256" in markdown
    assert "⚠ policy warns (`warn`): &lt;b&gt;look&lt;/b&gt; \\| twice" in markdown
    html = run_cli("drift", "--stacks", root, "--policy", LIBRARY, "--format", "html").stdout
    assert '<tr class="policy errored" data-policy="deny">' in html
    assert "&lt;b&gt;look&lt;/b&gt; | twice" in html and "<b>look</b>" not in html
    metrics = run_cli("drift", "--stacks", root, "--policy", LIBRARY, "--format", "prometheus").stdout
    stack0 = denied["name"]
    assert f'reconciler_drift_policy_denials{{stack="{stack0}"}} 1.0' in metrics
    assert f'reconciler_drift_policy_warnings{{stack="{warned["name"]}"}} 1.0' in metrics
    assert "reconciler_drift_fleet_policy_denied_stacks 1.0" in metrics


def test_worker_processes_judge_the_command_lines_policies_too(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    """A fleet big enough for worker processes gets the same verdicts as one checked in-process:
    ``--policy`` travels to every worker (a worker without it would pass a denied stack)."""
    import asyncio
    import os

    from reconciler.app.fleet.discover import discover
    from reconciler.app.fleet.workers import check_in_workers
    from reconciler.app.policy_gate import PolicyChoice

    start_sandbox()
    folders = applied_fleet(tmp_path / "fleet", run_cli, 2)
    for folder in folders:
        stack = folder / "stack.yaml"
        stack.write_text(stack.read_text().replace("precision: 64", "precision: 1024"), encoding="utf-8")
    report = asyncio.run(
        check_in_workers(
            discover([tmp_path / "fleet"]),
            environ=os.environ,
            workers=2,
            min_stacks_per_worker=1,
            policy=PolicyChoice((LIBRARY,)),
        )
    )
    assert report["summary"]["stacks"] == len(folders) > 1
    assert report["summary"]["policy_denied"] == len(folders) and report["exit_code"] == 1
    assert report["checked_with"] == {
        "sandbox": False, "policy": [str(LIBRARY)], "policy_namespace": None, "environment": {},
    }  # fmt: skip
