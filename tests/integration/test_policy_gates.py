"""Issue 30: policy gates. A plan that deletes a protected core is denied (exit 1, the message shown
in every format, the JSON saying it is a policy denial) and apply makes no write call, for a plan
made on the spot, a saved plan, and a stack's own ``policy:`` block. Against the Signaloid
emulator on loopback, behind a recorder; the policies are the example library (examples/policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import RunCli
from tests.support.recording import Recorder
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import API_KEY, CORE, StackDir

LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "policy"
DENIAL = "cores.prod-athens is protected: no delete or replace"


def _applied_then_removed(start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir) -> Recorder:
    """prod-athens applied, then taken out of the YAML (the plan deletes it); the recorder reset."""
    recorder = Recorder()

    def record(app: Any) -> Recorder:
        recorder.app = app
        return recorder

    start_sandbox(wrap=record)
    stack_dir.write(cores={"prod-athens": dict(CORE), "scratch": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    stack_dir.write(cores={"scratch": dict(CORE)})
    recorder.calls.clear()
    return recorder


def test_a_plan_deleting_a_protected_core_is_denied_in_every_format(
    start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir
) -> None:
    _applied_then_removed(start_sandbox, run_cli, stack_dir)
    text = run_cli("plan", "-f", stack_dir.path, "--policy", LIBRARY)
    assert text.exit_code == 1, text
    assert f"✗ [deny_protected] {DENIAL}" in text.stdout
    assert "denied by policy (1 denial," in text.stderr
    markdown = run_cli("plan", "-f", stack_dir.path, "--policy", LIBRARY, "--format", "markdown")
    assert markdown.exit_code == 1
    assert f"| ✗ deny | `deny_protected` | {DENIAL} |" in markdown.stdout
    as_json = run_cli("plan", "-f", stack_dir.path, "--policy", LIBRARY, "--format", "json")
    assert as_json.exit_code == 1
    policy = as_json.json()["policy"]
    assert policy["denied"] is True
    (result,) = policy["results"]
    assert result["enforcement"] == "mandatory" and result["namespace"] == "main"
    assert result["denials"] == [{"rule": "deny_protected", "msg": DENIAL, "metadata": {}}]


def test_apply_refuses_a_denied_plan_before_any_write_call(
    start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir
) -> None:
    recorder = _applied_then_removed(start_sandbox, run_cli, stack_dir)
    before = stack_dir.state()
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path, "--policy", LIBRARY)
    assert result.exit_code == 1, result
    assert DENIAL in result.stdout and "nothing was applied" in result.stderr
    assert recorder.calls, "apply did read live state"
    assert recorder.writes() == []
    assert stack_dir.state() == before
    # Without the policy the same apply deletes it: the recorder would have seen that write.
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert any(call.startswith("DELETE ") for call in recorder.writes())


def test_apply_of_a_saved_plan_judges_it_again(
    start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir, tmp_path: Path
) -> None:
    recorder = _applied_then_removed(start_sandbox, run_cli, stack_dir)
    planfile = tmp_path / "plan.json"
    made = run_cli("plan", "-f", stack_dir.path, "--out", planfile)  # no policy when it was made
    assert made.exit_code == 0, made
    result = run_cli("apply", "-f", stack_dir.path, "--policy", LIBRARY, planfile)
    assert result.exit_code == 1, result
    assert DENIAL in result.stdout
    assert recorder.writes() == []
    offline = run_cli("policy", "eval", planfile, "--policy", LIBRARY, "--format", "json")
    assert offline.exit_code == 1
    assert offline.json()["policy"]["results"][0]["denials"][0]["msg"] == DENIAL


def test_the_stack_block_gates_without_a_flag_and_advisory_only_warns(
    start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir
) -> None:
    recorder = _applied_then_removed(start_sandbox, run_cli, stack_dir)
    doc = yaml.safe_load(stack_dir.file.read_text(encoding="utf-8"))
    doc["policy"] = {"paths": [str(LIBRARY)]}
    stack_dir.file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 1
    assert recorder.writes() == []
    doc["policy"]["enforcement"] = "advisory"
    stack_dir.file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    advisory = run_cli("plan", "-f", stack_dir.path, "--detailed-exitcode", "--format", "json")
    assert advisory.exit_code == 2, advisory  # changes pending: warnings never change the exit code
    (result,) = advisory.json()["policy"]["results"]
    assert result["denials"] == [] and result["warnings"][0]["msg"] == DENIAL
    assert advisory.json()["policy"]["denied"] is False


def test_warnings_never_change_the_exit_code(
    start_sandbox: StartSandbox, run_cli: RunCli, stack_dir: StackDir, tmp_path: Path
) -> None:
    start_sandbox()
    stack_dir.write(cores={"scratch": dict(CORE)})
    policy = tmp_path / "warn.rego"
    policy.write_text(
        'package main\n\nimport rego.v1\n\nwarn contains "look twice" if count(input.changes) > 0\n',
        encoding="utf-8",
    )
    result = run_cli("plan", "-f", stack_dir.path, "--policy", policy)
    assert result.exit_code == 0, result
    assert "! [warn] look twice" in result.stdout
    assert run_cli("plan", "-f", stack_dir.path, "--policy", policy, "--detailed-exitcode").exit_code == 2


def test_the_input_holds_no_secret(
    start_sandbox: StartSandbox,
    run_cli: RunCli,
    stack_dir: StackDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A policy that prints its whole input shows neither a ${env:…} value nor the API key."""
    start_sandbox()
    token = "tok-policy-5e1f0a9b77"
    monkeypatch.setenv("HOOK_TOKEN", token)
    stack_dir.file.write_text(
        "version: 1\nwebhooks:\n  ci:\n    url: https://hooks.example.com/${env:HOOK_TOKEN}\n"
        "    events: [task-status]\n",
        encoding="utf-8",
    )
    policy = tmp_path / "show.rego"
    policy.write_text(
        'package main\n\nimport rego.v1\n\ndeny contains sprintf("%v", [input]) if true\n', encoding="utf-8"
    )
    result = run_cli("plan", "-f", stack_dir.path, "--policy", policy, "--format", "json")
    assert result.exit_code == 1, result
    shown = result.json()["policy"]["results"][0]["denials"][0]["msg"]
    seen = json.loads(shown)
    assert seen["reconciler"]["declared"]["webhooks"]["ci"]["url"] == "(sensitive)"
    assert seen["changes"][0]["action"] == "create" and seen["changes"][0]["pending"] is True
    assert seen["reconciler"]["command"] == "plan" and seen["reconciler"]["stack"] == "stack"
    assert token not in result.output
    assert API_KEY not in shown
