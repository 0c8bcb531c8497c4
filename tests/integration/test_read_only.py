"""Read-only commands make no write call on any API: a read-only token is enough for a drift cron.

``plan``, ``drift``, ``export``, ``validate`` and ``state list`` run against every provider at once
(Signaloid, Steamship and Scramjet emulators on loopback, behind a recorder), with objects in place
and a pending change, and against a real Transform Hub behind a recording proxy. Each call they
make must be a read (GET, or one of Steamship's POST list/get operations).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import RunCli
from tests.support.recording import Recorder, recording_proxy
from tests.support.sandbox import StartSandbox
from tests.support.scramjet_hub import RealHub, require_hub
from tests.support.signaloid import API_KEY, CORE

ROOT = Path(__file__).resolve().parents[2]
COUNTER = ROOT / "tests" / "support" / "sequences" / "counter"
HELLO = ROOT / "examples" / "scramjet" / "sequences" / "hello-counter"


def _stack(folder: Path, hub_url: str, package: Path, name: str, precision: int = 128) -> None:
    shutil.copytree(package, folder / "pkg", dirs_exist_ok=True)
    doc = {
        "version": 1,
        "providers": {"scramjet": {"hubs": {"local": {"url": hub_url}}}},
        "cores": {"ro-core": {**CORE, "precision": precision}},
        "workspaces": {"ro-space": {}},
        "sequences": {name: {"hub": "local", "package": "./pkg", "instances": [{"args": [1]}]}},
    }
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _read_only_commands(run_cli: RunCli, folder: Path, recorder: Recorder) -> None:
    recorder.calls.clear()
    stack = ["-f", folder]
    for args, codes in [
        (["validate", *stack], {0}),
        (["plan", "--detailed-exitcode", *stack], {2}),
        (["plan", "--format", "json", *stack], {0}),
        (["drift", *stack], {2}),
        (["export", *stack], {0}),
        (["state", "list", *stack], {0}),
    ]:
        result = run_cli(*args)
        assert result.exit_code in codes, result
    assert recorder.calls, "the commands did read live state"
    assert recorder.writes() == [], recorder.writes()


def test_read_only_commands_write_nothing_on_any_provider(
    start_sandbox: StartSandbox, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()

    def wrap(app: Any) -> Recorder:
        recorder.app = app
        return recorder

    sandbox = start_sandbox(wrap=wrap)
    monkeypatch.setenv("STEAMSHIP_API_BASE", f"{sandbox.url}/steamship/api/v1/")
    monkeypatch.setenv("STEAMSHIP_API_KEY", API_KEY)
    folder = tmp_path / "stack"
    folder.mkdir()
    _stack(folder, f"{sandbox.url}/scramjet/api/v1", HELLO, "hello-counter")
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0, result
    assert recorder.writes(), "the recorder sees writes when there are some"
    _stack(folder, f"{sandbox.url}/scramjet/api/v1", HELLO, "hello-counter", precision=256)  # pending
    _read_only_commands(run_cli, folder, recorder)
    apis = {c.split(" ", 1)[1].split("/")[1] for c in recorder.calls}
    assert apis == {"signaloid", "steamship", "scramjet"}


@pytest.mark.hub
def test_plan_and_drift_make_no_write_call_on_a_real_hub(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_sandbox: StartSandbox
) -> None:
    require_hub()
    start_sandbox()  # Signaloid and Steamship of the stack
    monkeypatch.setenv("STEAMSHIP_API_BASE", "http://127.0.0.1:9/unused/")  # no workspaces below
    with RealHub() as hub, recording_proxy(hub.url.removesuffix("/api/v1")) as (proxy, recorder):
        folder = tmp_path / "stack"
        folder.mkdir()
        shutil.copytree(COUNTER, folder / "pkg")
        hubs = {"local": {"url": f"{proxy}/api/v1"}}
        doc: dict[str, Any] = {"version": 1, "providers": {"scramjet": {"hubs": hubs}},
               "sequences": {"reconciler-test-counter": {"hub": "local", "package": "./pkg",
                                                         "instances": [{"args": [1]}]}}}  # fmt: skip
        (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
        doc["sequences"]["reconciler-test-counter"]["instances"].append({"args": [2]})  # pending
        (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        recorder.calls.clear()
        for args, code in [(["plan", "--detailed-exitcode"], 2), (["drift"], 2), (["export"], 0)]:
            result = run_cli(*args, "-f", folder)
            assert result.exit_code == code, result
        assert recorder.calls and recorder.writes() == [], recorder.calls
        assert run_cli("destroy", "--auto-approve", "-f", folder).exit_code == 0
