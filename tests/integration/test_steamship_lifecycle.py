"""Steamship workspaces and package instances through the CLI, against the emulator on a loopback
socket; effects are checked through the emulator's own API, not through reconciler code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from reconciler.sandbox.steamship import create_app
from tests.support.cli import RunCli
from tests.support.examples import pristine_example
from tests.support.servers import serve_app
from tests.support.signaloid import StackDir

API_KEY = "steamship-integration-key"
NO_UPDATE = "package instances cannot be updated (the engine has no update call)"
ENGINE_INIT_FAILURE = "broken-init raised an error in its init handler"


class Recorder:
    """An ASGI layer that notes every operation called."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.operations: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.operations.append(scope["path"].removeprefix("/api/v1/"))
        await self.app(scope, receive, send)


class Engine:
    """Straight HTTP to the emulator, for checks and for changes behind the tool's back."""

    def __init__(self, base: str, recorder: Recorder) -> None:
        self.recorder = recorder
        self.client = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)

    def call(self, operation: str, body: dict[str, Any], workspace: str | None = None) -> Any:
        headers = {"X-Workspace-Handle": workspace} if workspace else {}
        response = self.client.post(operation, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def workspaces(self) -> list[str]:
        return sorted(w["handle"] for w in self.call("workspace/list", {"pageSize": 100})["workspaces"])

    def instances(self) -> dict[tuple[str, str], dict[str, Any]]:
        page = self.call("package/instance/list", {"acrossWorkspaces": True, "pageSize": 100})
        return {(i["workspaceHandle"], i["handle"]): i for i in page["packageInstances"]}


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    app = create_app(tmp_path / "steamship-data", api_key=API_KEY, init_seconds=0.05, task_seconds=0.05)
    recorder = Recorder(app)
    with serve_app(recorder) as url:
        base = f"{url}/api/v1/"
        monkeypatch.setenv("STEAMSHIP_API_BASE", base)
        monkeypatch.setenv("STEAMSHIP_API_KEY", API_KEY)
        api = Engine(base, recorder)
        try:
            yield api
        finally:
            api.client.close()


def write(stack_dir: StackDir, **sections: Any) -> None:
    stack_dir.file.write_text(yaml.safe_dump({"version": 1, **sections}, sort_keys=False), encoding="utf-8")


SUMMARIZER = {"workspace": "research", "package": "summarize-text", "version": "1.2.0"}


def standard(stack_dir: StackDir, max_words: Any = 200, **extra: Any) -> None:
    write(
        stack_dir,
        workspaces={"research": {}},
        package_instances={
            "summarizer": {**SUMMARIZER, "config": {"model": "gpt-4", "max_words": max_words}},
            "greeter": {"workspace": "research", "package": "hello-world"},
            **extra,
        },
    )


def apply(run_cli: RunCli, stack_dir: StackDir, *flags: str) -> Any:
    return run_cli("apply", "--auto-approve", *flags, "-f", stack_dir.path)


def test_create_then_the_next_plan_is_empty(stack_dir: StackDir, run_cli: RunCli, engine: Engine) -> None:
    standard(stack_dir, max_words="200")  # a numeric string: the engine stores the number
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0, result
    assert "Apply complete! Resources: 3 added" in result.stdout
    assert engine.workspaces() == ["research"]
    live = engine.instances()
    assert live[("research", "summarizer")]["config"] == {"model": "gpt-4", "max_words": 200}
    assert live[("research", "summarizer")]["initStatus"] == "complete"
    assert live[("research", "greeter")]["packageVersionHandle"] == "1.1.0"  # latest at creation
    assert set(stack_dir.state()) == {
        "workspaces.research",
        "package_instances.summarizer",
        "package_instances.greeter",
    }

    again = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert again.exit_code == 0, again
    assert "No changes." in again.stdout
    doc = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    assert {c["action"] for c in doc["changes"]} == {"no-op"} and doc["unmanaged"] == []


def test_a_config_change_is_a_replace_naming_the_field(
    stack_dir: StackDir, run_cli: RunCli, engine: Engine
) -> None:
    standard(stack_dir)
    assert apply(run_cli, stack_dir).exit_code == 0
    old_id = stack_dir.state()["package_instances.summarizer"]
    standard(stack_dir, max_words=300)

    text = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert text.exit_code == 2, text
    reason = f"(config.max_words cannot be updated in place: {NO_UPDATE})"
    assert f"package_instances.summarizer must be replaced {reason}" in text.stdout
    assert "~ config.max_words = 200 → 300  # forces replacement" in text.stdout
    assert "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy." in text.stdout

    doc = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    [change] = [c for c in doc["changes"] if c["pending"]]
    assert change["address"] == "package_instances.summarizer" and change["action"] == "replace"
    [field] = change["fields"]
    assert (field["path"], field["before"], field["after"]) == ("config.max_words", 200, 300)
    assert field["forces_replacement"] is True

    result = apply(run_cli, stack_dir)
    assert result.exit_code == 0, result
    live = engine.instances()
    assert live[("research", "summarizer")]["config"]["max_words"] == 300
    assert live[("research", "summarizer")]["id"] != old_id, "a replace makes a new instance"
    assert stack_dir.state()["package_instances.summarizer"] == live[("research", "summarizer")]["id"]
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_a_failed_init_fails_the_apply_with_the_engines_message_and_a_rerun_converges(
    stack_dir: StackDir, run_cli: RunCli, engine: Engine
) -> None:
    broken = {"workspace": "research", "package": "broken-init"}
    standard(stack_dir, broken=broken)
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 1, result
    assert "package_instances.broken: FAILED" in result.stdout and ENGINE_INIT_FAILURE in result.stdout
    assert "Apply FAILED! Resources: 3 added" in result.stdout
    assert "package_instances.broken" in stack_dir.state(), "the instance exists: the stack owns it"

    # Unchanged YAML: the failed instance is replaced (and fails again), never left as it is.
    unchanged = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    [change] = [c for c in unchanged["changes"] if c["pending"]]
    assert change["action"] == "replace" and "initialisation failed" in change["reason"]

    standard(stack_dir, broken={"workspace": "research", "package": "hello-world"})
    fixed = apply(run_cli, stack_dir)
    assert fixed.exit_code == 0, fixed
    assert "Resources: 0 added, 0 changed, 1 replaced" in fixed.stdout
    live = engine.instances()
    assert live[("research", "broken")]["packageHandle"] == "hello-world"
    assert len(live) == 3, "no duplicates, no leftovers"
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"package": "no-such-package"}, 'Package "no-such-package" was not found. [NotFound]'),
        ({"package": "hello-world", "version": "9.9.9"}, 'Version "9.9.9" of package "hello-world"'),
        (
            {"package": "summarize-text", "config": {"max_words": 5}},
            'PackageInstance is invalid. Missing required parameter "model"',
        ),
    ],
)
def test_an_engine_refusal_is_shown_with_the_address_that_caused_it(
    stack_dir: StackDir, run_cli: RunCli, engine: Engine, spec: dict[str, Any], message: str
) -> None:
    write(
        stack_dir, workspaces={"research": {}}, package_instances={"bad": {"workspace": "research", **spec}}
    )
    result = apply(run_cli, stack_dir)
    assert result.exit_code == 1, result
    [line] = [line for line in result.stdout.splitlines() if line.startswith("package_instances.bad: FAILED")]
    assert message in line, result
    assert "Traceback" not in result.output and API_KEY not in result.output


def test_deleting_a_workspace_that_holds_unmanaged_instances_needs_an_opt_in(
    stack_dir: StackDir, run_cli: RunCli, engine: Engine
) -> None:
    standard(stack_dir)
    assert apply(run_cli, stack_dir).exit_code == 0
    engine.call("package/instance/create", {"packageHandle": "hello-world", "handle": "intruder"}, "research")

    refused = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert refused.exit_code == 1, refused
    assert (
        "deleting workspaces.research would also delete 1 object this stack does not manage" in refused.output
    )
    assert "package_instances 'intruder'" in refused.output
    assert "--allow-delete-unmanaged workspaces.research" in refused.output
    assert engine.workspaces() == ["research"] and set(engine.instances()) == {("research", "intruder")}

    engine.recorder.operations.clear()
    allowed = run_cli(
        "destroy", "--auto-approve", "--allow-delete-unmanaged", "workspaces.research", "-f", stack_dir.path
    )
    assert allowed.exit_code == 0, allowed
    assert "package_instances 'intruder'" in allowed.stdout  # the warning says what goes with it
    assert engine.workspaces() == [] and engine.instances() == {}
    assert stack_dir.state() == {}
    assert "task/status" in engine.recorder.operations, "workspace/delete answers with a task to poll"


def test_a_workspace_removed_while_the_stack_still_puts_instances_in_it_is_an_error(
    stack_dir: StackDir, run_cli: RunCli, engine: Engine
) -> None:
    standard(stack_dir)
    assert apply(run_cli, stack_dir).exit_code == 0
    write(stack_dir, package_instances={"greeter": {"workspace": "research", "package": "hello-world"}})
    result = run_cli("plan", "-f", stack_dir.path)
    assert result.exit_code == 1, result
    assert "package_instances.greeter: workspace 'research' is workspaces.research" in result.stderr
    assert engine.workspaces() == ["research"]


def test_plan_json_of_a_fresh_stack(stack_dir: StackDir, run_cli: RunCli, engine: Engine) -> None:
    standard(stack_dir)
    doc = json.loads(run_cli("plan", "--format", "json", "-f", stack_dir.path).stdout)
    creates = {c["address"]: c for c in doc["changes"]}
    assert creates["package_instances.summarizer"]["depends_on"] == ["workspaces.research"]
    assert doc["summary"]["create"] == 3 and engine.workspaces() == []


def test_the_example_applies_in_the_sandbox_and_then_has_nothing_to_do(
    tmp_path: Path, run_cli: RunCli
) -> None:
    example = pristine_example("steamship", tmp_path)  # as shipped, not the user's working copy
    first = run_cli("apply", "--sandbox", "--auto-approve", "-f", example)
    assert first.exit_code == 0, first
    assert run_cli("plan", "--sandbox", "--detailed-exitcode", "-f", example).exit_code == 0
