"""lifecycle.create_before_destroy end to end, on the one shipped kind that can be replaced with both
objects alive at once: a Signaloid repository whose ``remote_url`` changes (the new connection's
(remote_url, branch) is not the old one's). Through the CLI, over a loopback socket; every call
the tool makes is recorded, so the order of the two calls is seen, not assumed."""

from __future__ import annotations

from typing import Any

from tests.support.cli import RunCli
from tests.support.recording import Recorder
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import StackDir, repository

URL_A, URL_B = "https://github.com/example/model-a", "https://github.com/example/model-b"


def write(stack_dir: StackDir, url: str, **lifecycle: Any) -> None:
    stack_dir.write(repositories={"model": {**repository(url), "lifecycle": lifecycle}})


def test_a_repository_is_created_before_its_old_connection_is_deleted(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=Recorder)
    recorder, api = sandbox.app, sandbox.api
    write(stack_dir, URL_A, create_before_destroy=True)
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    old = stack_dir.state()["repositories.model"]

    write(stack_dir, URL_B, create_before_destroy=True)
    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    (change,) = plan["changes"]
    assert (change["action"], change["replace_order"]) == ("replace", "create-then-delete")
    text = run_cli("plan", "-f", stack_dir.path).stdout
    assert "(create_before_destroy: the new object is created before the old one is deleted)" in text

    recorder.calls.clear()
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert recorder.writes() == ["POST /signaloid/repositories", f"DELETE /signaloid/repositories/{old}"]
    new = stack_dir.state()["repositories.model"]
    assert new != old and api.ids("repositories") == {new}
    assert api.by_id("repositories")[new]["RemoteURL"] == URL_B
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_without_it_the_old_connection_is_deleted_first(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=Recorder)
    recorder = sandbox.app
    write(stack_dir, URL_A)
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    old = stack_dir.state()["repositories.model"]
    write(stack_dir, URL_B)
    (change,) = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()["changes"]
    assert change["replace_order"] == "delete-then-create"
    recorder.calls.clear()
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert recorder.writes() == [f"DELETE /signaloid/repositories/{old}", "POST /signaloid/repositories"]
