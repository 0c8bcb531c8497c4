"""Failures over a real socket: an API call that keeps failing in the middle of an apply, transient
faults (5xx, 429, dropped connections, lost responses), a rejected API key, an unreachable endpoint.

The faults are ASGI layers around the real emulator app, so everything else behaves as the API does;
every check of what exists is made through the emulator's own HTTP API."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from reconciler.sandbox import signaloid
from reconciler.sandbox.faults import FaultConfig, FaultInjector
from tests.support.cli import RECONCILER_BIN, CliResult, RunCli
from tests.support.sandbox import StartSandbox
from tests.support.servers import closed_port, serve_app
from tests.support.signaloid import CORE, WEBHOOK, StackDir, repository

Scope = dict[str, Any]
FAST_RETRIES = {"max_retries": 2, "retry_budget_s": 5, "timeout_s": 5}


class FailCalls:
    """ASGI layer: answers chosen calls with an error (the app is not called); the rest pass through.

    ``fail(method, path, status, when=pred)``: ``pred(body)`` narrows it to some request bodies.
    ``active = False`` turns every rule off (the fault is "fixed").
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[tuple[str, str, int, Callable[[dict[str, Any]], bool]]] = []
        self.active = True
        self.failed: Counter[str] = Counter()

    def fail(
        self, method: str, path: str, status: int, when: Callable[[dict[str, Any]], bool] = lambda body: True
    ) -> None:
        self.rules.append((method, path, status, when))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        rules = [
            r
            for r in self.rules
            if scope["type"] == "http" and (r[0], r[1]) == (scope["method"], scope["path"])
        ]
        if not self.active or not rules:
            await self.app(scope, receive, send)
            return
        raw, more = b"", True
        while more:
            message = await receive()
            raw += message.get("body", b"")
            more = message.get("more_body", False)
        body = json.loads(raw) if raw.strip() else {}
        for _, path, status, when in rules:
            if when(body):
                self.failed[f"{scope['method']} {path}"] += 1
                payload = json.dumps({"message": f"injected {status} for this test"}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


def mixed_stack(stack_dir: StackDir) -> None:
    stack_dir.write(
        cores={"good": dict(CORE), "doomed": {**CORE, "precision": 64}},
        repositories={
            "on-good": repository("https://github.com/acme/on-good", core="good"),
            "on-doomed": repository("https://github.com/acme/on-doomed", core="doomed"),
        },
        webhooks={"ci-notify": {"url": "https://hooks.example.com/ci", **WEBHOOK}},
        http=FAST_RETRIES,
    )


@pytest.mark.parametrize("status", [422, 503], ids=["non-retryable-422", "persistent-503"])
def test_a_failing_call_stops_its_dependents_and_a_rerun_converges(
    status: int, start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=FailCalls)
    fault = sandbox.app
    fault.fail("POST", "/signaloid/cores", status, when=lambda body: body.get("Name") == "doomed")
    fault.fail("POST", "/signaloid/webhooks", status)
    api = sandbox.api
    mixed_stack(stack_dir)

    started = time.monotonic()
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert time.monotonic() - started < 20
    assert result.exit_code == 1, result
    out = result.stdout
    assert "Apply FAILED! Resources: 2 added" in out
    assert "done: 2, failed: 2, not started: 1" in out
    failed_core = next(
        line for line in out.splitlines() if line.startswith("  failed      cores.doomed (create): ")
    )
    assert f"HTTP {status}" in failed_core and f"injected {status} for this test" in failed_core
    assert "  failed      webhooks.ci-notify (create): " in out
    assert "  not started repositories.on-doomed (create): waits for cores.doomed" in out
    assert "Traceback" not in result.output
    assert fault.failed["POST /signaloid/webhooks"] >= 1

    state = stack_dir.state()
    assert set(state) == {"cores.good", "repositories.on-good"}
    assert api.ids("cores") == {state["cores.good"]}
    assert api.ids("repositories") == {state["repositories.on-good"]}
    assert api.objects("webhooks") == []

    fault.active = False
    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    assert {c["address"] for c in plan["changes"] if c["pending"]} == {
        "cores.doomed",
        "repositories.on-doomed",
        "webhooks.ci-notify",
    }
    rerun = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert rerun.exit_code == 0, rerun
    assert "Apply complete! Resources: 3 added, 0 changed, 0 replaced, 0 destroyed." in rerun.stdout
    for kind in ("cores", "repositories", "webhooks"):
        assert set(api.key_counts(kind).values()) == {1}, f"duplicate {kind}: {api.key_counts(kind)}"
    assert len(stack_dir.state()) == 5
    assert stack_dir.state()["cores.good"] == state["cores.good"]
    final = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert final.exit_code == 0, final


def failing_destroy(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> tuple[Any, CliResult]:
    """Apply a core and a repository on it, then destroy while every DELETE of the core gets a 503."""
    sandbox = start_sandbox(wrap=FailCalls)
    stack_dir.write(
        cores={"c": dict(CORE)},
        repositories={"r": repository("https://github.com/acme/r", core="c")},
        http=FAST_RETRIES,
    )
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    sandbox.app.fail("DELETE", f"/signaloid/cores/{stack_dir.state()['cores.c']}", 503)
    return sandbox, run_cli("destroy", "--auto-approve", "-f", stack_dir.path)


def test_a_failing_delete_keeps_its_state_entry_and_destroy_converges(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox, result = failing_destroy(start_sandbox, stack_dir, run_cli)
    assert result.exit_code == 1, result
    assert "  failed      cores.c (delete): " in result.stdout and "HTTP 503" in result.stdout
    assert "repositories.r: destroyed" in result.stdout, "the repository goes first, and does go"
    (core_id,) = stack_dir.state().values()
    assert sandbox.api.ids("cores") == {core_id} and sandbox.api.objects("repositories") == []

    sandbox.app.active = False
    again = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert again.exit_code == 0, again
    assert sandbox.api.objects("cores") == [] and stack_dir.state() == {}


def test_a_failed_destroy_tells_the_user_to_run_destroy_again(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    _, result = failing_destroy(start_sandbox, stack_dir, run_cli)
    assert result.exit_code == 1, result
    assert "run apply again" not in result.output
    assert "destroy again" in result.output


def twenty_resources() -> dict[str, Any]:
    return {
        "cores": {f"core-{i}": {**CORE, "precision": 64 + i} for i in range(8)},
        "repositories": {
            f"repo-{i}": repository(f"https://github.com/acme/repo-{i}", core=f"core-{i}") for i in range(6)
        },
        "webhooks": {f"hook-{i}": {"url": f"https://hooks.example.com/{i}", **WEBHOOK} for i in range(6)},
    }


class Switch:
    """Routes every request to ``faulty`` while ``on``, else straight to ``app``."""

    def __init__(self, app: Any, faulty: Any) -> None:
        self.app, self.faulty, self.on = app, faulty, True

    @contextmanager
    def off(self) -> Iterator[None]:
        self.on = False
        try:
            yield
        finally:
            self.on = True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await (self.faulty if self.on else self.app)(scope, receive, send)


def apply_until_converged(run_cli: RunCli, *args: Any) -> list[CliResult]:
    """Apply; while it fails (faults outlasted the retries), apply again, at most 3 more times."""
    runs = [run_cli(*args, "--auto-approve", "--parallelism", "32")]
    while runs[-1].exit_code != 0 and len(runs) < 4:
        runs.append(run_cli(*args, "--auto-approve", "--parallelism", "32"))
    assert runs[-1].exit_code == 0, "\n".join(map(str, runs))
    return runs


def test_transient_faults_never_create_duplicates(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    config = FaultConfig(
        fault_rate=0.25, seed=int(os.environ.get("FAULT_SEED", "20240611")), retry_after_s=0.05
    )
    sandbox = start_sandbox(wrap=lambda app: Switch(app, FaultInjector(app, config)))
    switch, api = sandbox.app, sandbox.api
    http = {"max_retries": 6, "retry_budget_s": 20}
    stack_dir.write(**twenty_resources(), http=http)

    apply_until_converged(run_cli, "apply", "-f", stack_dir.path)
    assert switch.faulty.stats["faults"] >= 5, switch.faulty.stats
    with switch.off():
        for kind, wanted in (("cores", 8), ("repositories", 6), ("webhooks", 6)):
            keys = api.key_counts(kind)
            assert len(keys) == wanted and set(keys.values()) == {1}, f"{kind}: {keys}"
        state = stack_dir.state()
        assert len(state) == 20
        assert set(state.values()) == api.ids("cores") | api.ids("repositories") | api.ids("webhooks")
        assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0

    # Updates under the same faults: PATCH (cores, repositories) and PUT (webhooks), retried.
    changed = twenty_resources()
    for i, core in enumerate(changed["cores"].values()):
        core["precision"] = 512 + i
    for repo in changed["repositories"].values():
        repo["arguments"] = "-n 20"
    for hook in changed["webhooks"].values():
        hook["description"] = "changed"
    stack_dir.write(**changed, http=http)
    apply_until_converged(run_cli, "apply", "-f", stack_dir.path)
    with switch.off():
        assert stack_dir.state() == state, "updates keep every id"
        assert sorted(c["Precision"] for c in api.objects("cores")) == list(range(512, 520))
        assert {r["Arguments"] for r in api.objects("repositories")} == {"-n 20"}
        assert {h["Description"] for h in api.objects("webhooks")} == {"changed"}
        assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0

    apply_until_converged(run_cli, "destroy", "-f", stack_dir.path)
    with switch.off():
        assert [api.objects(kind) for kind in ("cores", "repositories", "webhooks")] == [[], [], []]
        assert stack_dir.state() == {}


class LoseFirstResponse:
    """The first ``method`` call to each path under ``prefix`` takes effect, but its response is lost."""

    def __init__(self, app: Any, method: str, prefix: str) -> None:
        self.app, self.method, self.prefix = app, method, prefix
        self.lose = FaultInjector(app, FaultConfig(fault_rate=1.0, mix=("lost_response",)))
        self.seen: set[str] = set()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        first = path not in self.seen
        if (
            scope["type"] == "http"
            and scope["method"] == self.method
            and path.startswith(self.prefix)
            and first
        ):
            self.seen.add(path)
            await self.lose(scope, receive, send)
            return
        await self.app(scope, receive, send)


def test_creates_whose_response_is_lost_are_not_sent_twice(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=lambda app: LoseFirstResponse(app, "POST", "/signaloid/"))
    stack_dir.write(
        cores={"only": dict(CORE)},
        repositories={"model": repository("https://github.com/acme/model", core="only")},
        webhooks={"hook": {"url": "https://hooks.example.com/x", **WEBHOOK}},
    )
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert sandbox.app.lose.stats["lost_response"] == 3, "each first POST landed but its answer was lost"
    state = stack_dir.state()
    for address in ("cores.only", "repositories.model", "webhooks.hook"):
        kind = address.split(".")[0]
        assert list(sandbox.api.key_counts(kind).values()) == [1], f"{kind} created twice"
        assert sandbox.api.ids(kind) == {state[address]}
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_a_core_update_whose_response_is_lost_still_succeeds(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    sandbox = start_sandbox(wrap=lambda app: LoseFirstResponse(app, "PATCH", "/signaloid/"))
    stack_dir.write(cores={"only": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    stack_dir.write(cores={"only": {**CORE, "precision": 256}})
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert sandbox.app.lose.stats["lost_response"] == 1
    assert [c["Precision"] for c in sandbox.api.objects("cores")] == [256]
    assert result.exit_code == 0, result


def test_a_killed_apply_loses_nothing_and_the_next_one_finishes(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    """SIGKILL in the middle of an apply: what was done is in state, the lock is left behind but stale,
    and the next apply creates only the rest (adopting one whose create landed as it was killed)."""
    slow = FaultConfig(latency_ms=60)
    sandbox = start_sandbox(wrap=lambda app: Switch(app, FaultInjector(app, slow)))
    stack_dir.write(cores={f"core-{i}": {**CORE, "precision": 64 + i} for i in range(6)})
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
    created: list[str] = []
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            deadline = time.monotonic() + 30
            while (
                len(created) < 2
                and time.monotonic() < deadline
                and selector.select(deadline - time.monotonic())
            ):
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    break
                if ": created in " in line:
                    created.append(line.split(":", 1)[0])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert len(created) == 2, "the apply never got going"
    state = stack_dir.state()
    assert set(created) <= set(state) and len(state) < 6, state
    assert stack_dir.state_path.with_name("state.json.lock").exists(), "SIGKILL leaves the lock file"

    sandbox.app.on = False
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert {k: v for k, v in stack_dir.state().items() if k in state} == state, "finished work kept its ids"
    keys = sandbox.api.key_counts("cores")
    assert len(keys) == 6 and set(keys.values()) == {1}, keys
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


# --- credentials and endpoints -------------------------------------------------------------------

WRONG_KEY = "wrong-key-0f9a8b7c6d5e"


def test_a_rejected_api_key_is_one_clear_line_without_the_key(
    tmp_path: Any, stack_dir: StackDir, run_cli: RunCli, run_cli_process: Callable[..., Any], monkeypatch: Any
) -> None:
    app = signaloid.create_app(tmp_path, api_key="the-right-key")
    stack_dir.write(cores={"only": dict(CORE)})
    with serve_app(app) as url:
        monkeypatch.setenv("SIGNALOID_API_URL", url)
        monkeypatch.setenv("SIGNALOID_API_KEY", WRONG_KEY)
        for command in (("plan",), ("apply", "--auto-approve")):
            result = run_cli(*command, "-f", stack_dir.path)
            assert result.exit_code == 1, result
            lines = result.stderr.splitlines()
            assert len(lines) == 1, result
            assert lines[0].startswith("Error: ") and "HTTP 403" in lines[0], result
            assert "Forbidden: the API key is not valid" in lines[0]
            assert WRONG_KEY not in result.output and "Traceback" not in result.output
        debug = run_cli_process("--debug", "plan", "-f", stack_dir.path)
    assert debug.exit_code == 1, debug
    assert "HTTP 403" in debug.stderr
    assert WRONG_KEY not in debug.output, "--debug may show a traceback, never the key"
    assert not stack_dir.state_path.exists() or stack_dir.state() == {}


def test_an_unreachable_endpoint_fails_fast_with_cannot_connect(
    stack_dir: StackDir, run_cli: RunCli, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SIGNALOID_API_KEY", WRONG_KEY)
    url = f"http://127.0.0.1:{closed_port()}"
    stack_dir.write(cores={"only": dict(CORE)}, url=url, http={"max_retries": 1, "retry_budget_s": 2})
    for command in (("plan",), ("apply", "--auto-approve")):
        started = time.monotonic()
        result = run_cli(*command, "-f", stack_dir.path)
        assert time.monotonic() - started < 10, "retries must be bounded by the stack's http settings"
        assert result.exit_code == 1, result
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result
        assert "cannot connect" in lines[0]
        assert "Traceback" not in result.output and WRONG_KEY not in result.output


def test_cannot_connect_names_the_endpoint(stack_dir: StackDir, run_cli: RunCli, monkeypatch: Any) -> None:
    port = closed_port()
    monkeypatch.setenv("SIGNALOID_API_KEY", WRONG_KEY)
    monkeypatch.setenv("SIGNALOID_API_URL", f"http://127.0.0.1:{port}")
    stack_dir.write(cores={"only": dict(CORE)}, http={"max_retries": 0})
    result = run_cli("plan", "-f", stack_dir.path)
    assert result.exit_code == 1 and "cannot connect" in result.stderr, result
    assert f"127.0.0.1:{port}" in result.stderr
