"""Selecting and protecting (issue 6.4) and deletion safety (issue 7.7) through the CLI, against the
emulator over a loopback socket: prevent_destroy, ignore_changes, --target/--exclude, the mass-delete
guard, a rename in the YAML, and the journal after a killed apply. Every effect is checked through the
emulator's own HTTP API."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from typing import Any

import pytest

from reconciler.sandbox.faults import FaultConfig, FaultInjector
from tests.support.cli import RECONCILER_BIN, RunCli
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE, WEBHOOK, SignaloidApi, StackDir, core_patch, repository


def hook(n: int | str, **extra: Any) -> dict[str, Any]:
    return {"url": f"https://hooks.example.com/{n}", **WEBHOOK, **extra}


def apply(run_cli: RunCli, stack_dir: StackDir, *flags: str) -> Any:
    return run_cli("apply", "--auto-approve", "-f", stack_dir.path, *flags)


def test_prevent_destroy_refuses_only_that_delete_and_state_rm_is_the_way_out(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROTECT_HOOK", "true")  # ${env:…} works in lifecycle values
    kept = hook("kept", lifecycle={"prevent_destroy": "${env:PROTECT_HOOK}"})
    stack_dir.write(cores={"c": dict(CORE)}, webhooks={"kept": kept, "other": hook("other")})
    assert apply(run_cli, stack_dir).exit_code == 0
    ids = stack_dir.state()

    stack_dir.write(cores={"c": {**CORE, "precision": 256}})  # both webhooks removed, the core changed
    plan = run_cli("plan", "-f", stack_dir.path)
    assert plan.exit_code == 1, plan
    assert "webhooks.kept has lifecycle.prevent_destroy set, and this plan would destroy it" in plan.stdout
    assert "reconciler state rm webhooks.kept" in plan.stdout

    result = apply(run_cli, stack_dir)
    assert result.exit_code == 1, result
    refusal = "failed      webhooks.kept (delete): webhooks.kept has lifecycle.prevent_destroy set"
    assert refusal in result.stdout
    assert api.ids("webhooks") == {ids["webhooks.kept"]}, "the other webhook is deleted, the kept one is not"
    assert [c["Precision"] for c in api.objects("cores")] == [256]
    assert set(stack_dir.state()) == {"cores.c", "webhooks.kept"}

    removed = run_cli("state", "rm", "-f", stack_dir.path, "webhooks.kept")
    assert removed.exit_code == 0, removed
    after = run_cli("plan", "--detailed-exitcode", "--format", "json", "-f", stack_dir.path)
    assert after.exit_code == 0, after
    assert [o["remote_id"] for o in after.json()["unmanaged"]] == [ids["webhooks.kept"]]
    assert api.ids("webhooks") == {ids["webhooks.kept"]}


def test_ignore_changes_leaves_a_field_changed_outside_alone(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(cores={"c": {**CORE, "lifecycle": {"ignore_changes": ["precision"]}}})
    assert apply(run_cli, stack_dir).exit_code == 0
    core_id = stack_dir.state()["cores.c"]
    assert api.by_id("cores")[core_id]["Precision"] == 128, "ignored fields are still sent on create"
    api.client.patch(
        f"/cores/{core_id}", json=core_patch(api.by_id("cores")[core_id], Precision=512)
    ).raise_for_status()

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 0, plan
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0 and "No changes." in result.stdout, result
    assert api.by_id("cores")[core_id]["Precision"] == 512


def test_target_pulls_in_its_dependency_and_exclude_leaves_out_its_dependent(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    url, url2 = "https://github.com/acme/r", "https://github.com/acme/r2"
    stack_dir.write(
        cores={"c": dict(CORE)}, repositories={"r": repository(url, core="c")}, webhooks={"h": hook("h")}
    )
    plan = run_cli("plan", "--target", "repositories.r", "-f", stack_dir.path)
    assert "Warning: cores.c is included because a target depends on it" in plan.stdout, plan
    assert "Warning: this plan is partial" in plan.stdout
    result = apply(run_cli, stack_dir, "--target", "repositories.r")
    assert result.exit_code == 0, result
    assert set(stack_dir.state()) == {"cores.c", "repositories.r"}
    assert api.objects("webhooks") == []
    (repo,) = api.objects("repositories")
    assert repo["Core"] == stack_dir.state()["cores.c"]

    stack_dir.write(
        cores={"c": dict(CORE), "d": {**CORE, "precision": 64}},
        repositories={"r": repository(url, core="c"), "r2": repository(url2, core="d")},
        webhooks={"h": hook("h")},
    )
    result = apply(run_cli, stack_dir, "--exclude", "cores.d")
    assert result.exit_code == 0, result
    assert "Warning: repositories.r2 is left out because it depends on cores.d" in result.stdout
    assert set(stack_dir.state()) == {"cores.c", "repositories.r", "webhooks.h"}
    assert len(api.objects("cores")) == 1 and len(api.objects("repositories")) == 1

    unknown = run_cli("plan", "--target", "cores.dd", "-f", stack_dir.path)
    assert unknown.exit_code == 1, unknown
    assert unknown.stderr == (
        "Error: --target cores.dd matches nothing in this plan (not declared, not in state); "
        "did you mean cores.d?\n"
    )
    no_kind = run_cli("apply", "--target", "core.d", "--auto-approve", "-f", stack_dir.path)
    assert (no_kind.exit_code, no_kind.stdout) == (1, ""), no_kind
    assert no_kind.stderr.startswith("Error: --target core.d: there is no kind 'core'; did you mean cores.d?")
    assert "cores.d" not in stack_dir.state()  # nothing was applied
    typo = run_cli("apply", "--exclude", "cores.dd", "--auto-approve", "-f", stack_dir.path)
    assert typo.exit_code == 1 and "--exclude cores.dd matches nothing" in typo.stderr, typo
    assert "cores.d" not in stack_dir.state()
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 2  # d, r2 pending


def test_the_mass_delete_guard_refuses_then_allows_and_destroy_is_exempt(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(webhooks={f"h{i}": hook(i) for i in range(8)})
    assert apply(run_cli, stack_dir).exit_code == 0
    assert len(api.ids("webhooks")) == 8

    stack_dir.write(webhooks={f"h{i}": hook(i) for i in range(2)})
    plan = run_cli("plan", "-f", stack_dir.path)
    assert "Warning: apply will refuse: this plan would delete 6 of the 8 managed resources" in plan.stdout
    refused = apply(run_cli, stack_dir)
    assert refused.exit_code == 1, refused
    assert "this plan would delete 6 of the 8 managed resources (75%" in refused.stderr
    assert "--allow-mass-delete" in refused.stderr
    assert len(api.ids("webhooks")) == 8 and len(stack_dir.state()) == 8, "nothing deleted"

    allowed = apply(run_cli, stack_dir, "--allow-mass-delete")
    assert allowed.exit_code == 0, allowed
    assert len(api.ids("webhooks")) == 2 and set(stack_dir.state()) == {"webhooks.h0", "webhooks.h1"}

    stack_dir.write(webhooks={f"h{i}": hook(i) for i in range(8)})
    assert apply(run_cli, stack_dir).exit_code == 0
    destroyed = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert destroyed.exit_code == 0, destroyed
    assert api.objects("webhooks") == [] and stack_dir.state() == {}


def test_a_rename_in_the_yaml_moves_the_object_in_state(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(webhooks={"old-name": hook("ours")})
    assert apply(run_cli, stack_dir).exit_code == 0
    hook_id = stack_dir.state()["webhooks.old-name"]

    stack_dir.write(webhooks={"new-name": hook("ours")})
    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path)
    (change,) = plan.json()["changes"]
    assert (change["address"], change["action"], change["moved_from"]) == (
        "webhooks.new-name", "move", "webhooks.old-name",
    )  # fmt: skip
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0, result
    assert api.ids("webhooks") == {hook_id}, "neither deleted nor created"
    assert stack_dir.state() == {"webhooks.new-name": hook_id}
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


class Slow:
    """Latency on every request while ``on``: an apply slow enough to be killed in the middle."""

    def __init__(self, app: Any) -> None:
        self.app, self.slow, self.on = app, FaultInjector(app, FaultConfig(latency_ms=150)), True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await (self.slow if self.on else self.app)(scope, receive, send)


def test_after_a_killed_apply_the_next_one_says_so_and_converges(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=Slow)
    stack_dir.write(cores={f"core-{i}": {**CORE, "precision": 64 + i} for i in range(4)})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    command = [
        str(RECONCILER_BIN),
        "apply",
        "--auto-approve",
        "--parallelism",
        "1",
        "-f",
        str(stack_dir.path),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if not line or ": creating…" in line:
                    seen = line
                    break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert ": creating…" in seen, "the apply never got going"
    journal = stack_dir.path / ".reconciler" / "journal.jsonl"
    events = [json.loads(line)["event"] for line in journal.read_text().splitlines() if line.endswith("}")]
    assert events[0] == "run" and "end" not in events

    sandbox.app.on = False
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0, result
    assert "The previous apply (pid " in result.stderr and "did not finish" in result.stderr, result
    assert sandbox.api.key_counts("cores") == {(f"core-{i}",): 1 for i in range(4)}
    assert len(stack_dir.state()) == 4
    assert [json.loads(line)["event"] for line in journal.read_text().splitlines()][-1] == "end"


def test_an_interrupted_run_is_reported_even_when_nothing_is_left_to_do(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    """The killed run's last call landed and was recorded; only its journal 'result' line is missing."""
    stack_dir.write(webhooks={"a": hook("a")})
    assert apply(run_cli, stack_dir).exit_code == 0
    journal = stack_dir.path / ".reconciler" / "journal.jsonl"
    lines = [
        {"event": "run", "run": "r1", "pid": 4242, "host": "h", "at": 0.0},
        {"event": "intent", "id": "c1", "address": "webhooks.a", "action": "create", "remote_id": None},
    ]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0, result
    assert "No changes" in result.stdout
    assert "The previous apply (pid 4242" in result.stderr
    assert "webhooks.a: create may or may not have happened" in result.stderr
    assert not journal.exists(), "once nothing is left to do, the interrupted run is settled"
    again = apply(run_cli, stack_dir)
    assert "previous apply" not in again.stderr
