"""Words that match what happens (CLI against the emulators on loopback, or the in-process sandbox)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli import RunCli
from tests.support.examples import pristine_example
from tests.support.signaloid import CORE, WEBHOOK, SignaloidApi, StackDir

HOOK = {"url": "https://hooks.example.com/kept", **WEBHOOK}


def test_destroy_says_destroy_and_a_refusal_is_not_worth_running_again(
    api: SignaloidApi, stack_dir: StackDir, run_cli: RunCli
) -> None:
    stack_dir.write(cores={"fast": CORE}, webhooks={"kept": {**HOOK, "lifecycle": {"prevent_destroy": True}}})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    result = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 1, result
    assert "cores.fast will be destroyed (destroy deletes everything this stack manages)" in result.stdout
    assert "no longer in the configuration" not in result.output
    assert "webhooks.kept has lifecycle.prevent_destroy set, and destroy would delete it" in result.output
    assert "run destroy again" not in result.output
    assert "Running destroy again would be refused the same way" in result.output


def test_the_drift_report_is_titled_as_one(api: SignaloidApi, stack_dir: StackDir, run_cli: RunCli) -> None:
    stack_dir.write(cores={"fast": CORE})
    in_sync = run_cli("drift", "-f", stack_dir.path)
    assert in_sync.exit_code == 2 and in_sync.stdout.startswith("Drift report: live state differs"), in_sync
    assert "will perform the following actions" not in in_sync.stdout
    markdown = run_cli("drift", "--format", "markdown", "-f", stack_dir.path).stdout
    assert markdown.startswith("### reconciler drift report\n")
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert run_cli("drift", "-f", stack_dir.path).stdout.startswith("No drift.")
    assert run_cli("plan", "-f", stack_dir.path).stdout.startswith("No changes.")


def test_a_plan_shows_the_package_path_as_written_relative_to_the_stack(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = pristine_example("scramjet", tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_cli("plan", "--sandbox", "--format", "json", "-f", "examples/scramjet")
    (change,) = result.json()["changes"]
    fields = {f["path"]: f["after"] for f in change["fields"]}
    assert fields["package"] == "./sequences/hello-counter" and "package_path" not in fields
    text = run_cli("plan", "--sandbox", "-f", "examples/scramjet").stdout
    assert str(tmp_path) not in text and str(folder.resolve()) not in text


def test_state_list_without_sandbox_says_when_only_sandbox_state_exists(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = pristine_example("quickstart", tmp_path)
    assert run_cli("apply", "--sandbox", "--auto-approve", "-f", folder).exit_code == 0
    monkeypatch.setenv("RECONCILER_STATE_BACKEND", "local")
    result = run_cli("state", "list", "-f", folder)
    assert result.exit_code == 0 and result.stdout == ""
    assert "No state for real accounts;" in result.stderr and "state list --sandbox" in result.stderr
    sandboxed = run_cli("state", "list", "--sandbox", "-f", folder)
    assert "cores.fast-athens\tcor_" in sandboxed.stdout and sandboxed.stderr == ""
    shutil.rmtree(folder / ".reconciler")
    assert run_cli("state", "list", "-f", folder).stderr == ""  # nothing anywhere: nothing to say


def test_export_without_a_configured_hub_says_so(
    api: SignaloidApi, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stack here
    result = run_cli("export")
    assert result.exit_code == 0, result
    assert "scramjet: no hub is configured (providers.scramjet.hubs" in result.stderr
