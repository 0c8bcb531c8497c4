"""The official ``steamship`` client (2.17.34) against our emulator, over a real loopback port.

If the official client cannot use the emulator, the emulator is wrong. The client pins pydantic 1,
so it lives in its own virtualenv (``.ci/install-steamship-client.sh``) and runs
``tests/support/steamship_client_driver.py`` as a subprocess; this test asserts on what it observed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from reconciler.sandbox.steamship import EXISTS_MESSAGE, USER_HANDLE, create_app
from reconciler.sandbox.steamship_packages import INVALID_CONFIG_MESSAGE

pytestmark = pytest.mark.steamship_client

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "support" / "steamship_client_driver.py"
CLIENT_VENV = Path(os.environ.get("STEAMSHIP_CLIENT_VENV", ROOT / ".tools" / "steamship-client-venv"))
API_KEY = "conformance-key"


@pytest.fixture(scope="module")
def client_python() -> Path:
    """The client venv's interpreter; checked before the server starts."""
    python = CLIENT_VENV / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if python.exists():
        return python
    how = (
        f"the official steamship client is not installed in {CLIENT_VENV}; "
        "run: bash .ci/install-steamship-client.sh"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI must install it before the tests: {how}", pytrace=False)
    pytest.skip(f"SKIPPED CONFORMANCE WITH THE OFFICIAL CLIENT: {how}")


@pytest.fixture(scope="module")
def called() -> set[str]:
    """Every operation the client sent to the emulator (filled while the driver runs)."""
    return set()


@pytest.fixture(scope="module")
def served_operations() -> set[str]:
    return set()


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, called: set[str], served_operations: set[str]
) -> Iterator[str]:
    """The emulator mounted under /steamship as `reconciler sandbox serve` does, on a free loopback port."""
    emulator = create_app(
        tmp_path_factory.mktemp("steamship"), api_key=API_KEY, init_seconds=0.3, task_seconds=0.2
    )
    served_operations.update(emulator.state.engine.operations, {"task/status"})

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            called.add(scope["path"].removeprefix("/steamship/api/v1/").strip("/"))
        await emulator(scope, receive, send)

    app = Starlette(routes=[Mount("/steamship", app=recording)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="steamship-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the emulator did not start on a loopback port", pytrace=False)
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/steamship/api/v1/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def observed(client_python: Path, base_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = client_python
    # A fresh HOME and no STEAMSHIP_* variables: the client must not pick up a real account's key.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEAMSHIP_")}
    env["HOME"] = str(tmp_path_factory.mktemp("home"))
    proc = subprocess.run(
        [str(python), str(DRIVER), "--base", base_url, "--api-key", API_KEY],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"driver failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout)


def test_the_client_covers_every_operation_the_emulator_serves(
    observed: dict[str, Any], called: set[str], served_operations: set[str]
) -> None:
    assert served_operations - called == set()


def test_a_wrong_key_is_refused(observed: dict[str, Any]) -> None:
    assert observed["bad_key_error"] == "The API key is not valid."


def test_account_current_and_task_get(observed: dict[str, Any]) -> None:
    assert observed["current_user"]["handle"] == USER_HANDLE and observed["current_user"]["id"]
    assert observed["workspaces"]["task_get"] == {"same_id": True, "state": "succeeded"}
    assert observed["workspaces"]["task_get_missing_error"] == 'Task "no-such-task" was not found.'


def test_workspace_switch_create_and_get(observed: dict[str, Any]) -> None:
    ws = observed["workspaces"]
    assert ws["switched"]["handle"] == "conf-ws"
    assert ws["create_fetch_if_exists"] == ws["switched"]
    assert ws["get_by_handle"] == ws["switched"]["id"]
    assert ws["get_by_id"] == "conf-ws"
    assert ws["create_exists_error"] == EXISTS_MESSAGE
    assert ws["get_missing_error"] == 'Workspace "no-such-workspace" was not found.'
    assert ws["invalid_handle_error"].startswith('Invalid handle "Not Valid"')


def test_workspace_list_pages_through_the_client(observed: dict[str, Any]) -> None:
    pages = observed["workspaces"]["list_pages"]
    assert all(len(page) <= 2 for page in pages)
    assert [h for page in pages for h in page] == ["conf-c", "conf-b", "conf-a", "conf-ws"]


def test_workspace_delete_is_a_task_the_client_polls(observed: dict[str, Any]) -> None:
    ws = observed["workspaces"]
    states = ws["delete_task_states"]
    assert states[0] == "waiting" and states[-1] == "succeeded"
    assert "running" in states
    assert ws["delete_task_output"]["handle"] == "conf-a"
    assert ws["get_deleted_error"] == 'Workspace "conf-a" was not found.'
    assert ws["delete_twice_error"] == f'Workspace with id "{ws["delete_task_output"]["id"]}" was not found.'
    assert ws["background_task_states"][0] == "waiting"
    assert ws["background_task_states"][-1] == "succeeded"
    assert ws["background_task_output"] == "conf-bg"


def test_package_instance_create_parses_into_the_client_model(observed: dict[str, Any]) -> None:
    inst, workspace = observed["instances"], observed["workspaces"]["switched"]
    created = inst["created"]
    assert created["handle"] == "summ"
    assert created["package_handle"] == "summarize-text"
    assert created["package_id"] == inst["package"]["id"]
    assert created["package_version_handle"] == "1.2.0" == inst["package"]["version"]
    assert created["config"] == {"model": "gpt-4", "max_words": 200}
    assert created["workspace_id"] == workspace["id"]
    assert created["workspace_handle"] == "conf-ws"
    assert created["init_status"] == "initializing"
    assert created["created_at"] is not None
    assert created["invocation_url"] == f"https://{created['user_handle']}.steamship.run/conf-ws/summ/"
    assert inst["after_wait_for_init"] == "complete"
    assert inst["get"] == {**created, "init_status": "complete"}


def test_package_template_reaches_the_client(observed: dict[str, Any]) -> None:
    template = observed["instances"]["package"]["config_template"]
    assert template["model"]["type"] == "string" and "default" not in template["model"]
    assert template["max_words"]["type"] == "number" and template["max_words"]["default"] == 100
    assert observed["instances"]["defaults_config"] == {"model": "m", "max_words": 100}


def test_fetch_if_exists_and_already_exists(observed: dict[str, Any]) -> None:
    inst = observed["instances"]
    assert inst["fetch_if_exists"] == {
        "id": inst["created"]["id"],
        "config": {"model": "gpt-4", "max_words": 200},
    }
    assert inst["exists_error"] == EXISTS_MESSAGE
    assert inst["use"] == {"handle": "used", "init_status": "complete"}


def test_engine_errors_reach_the_client(observed: dict[str, Any]) -> None:
    inst = observed["instances"]
    assert inst["invalid_config_error"].startswith(INVALID_CONFIG_MESSAGE)
    for part in ('"colour"', 'missing required parameter "model"', '"max_words" must be a number'):
        assert part in inst["invalid_config_error"]
    assert inst["unknown_package_error"] == 'Package "no-such-package" was not found.'
    assert inst["unknown_version_error"] == 'Version "9.9.9" of package "hello-world" was not found.'


def test_versions_init_failure_and_listing(observed: dict[str, Any]) -> None:
    inst = observed["instances"]
    assert inst["versions"] == {"latest": "1.1.0", "pinned": "1.0.0"}
    assert inst["broken_init_status"] == "failed"
    expected = ["broken", "used", "hello-pinned", "hello-latest", "defaults", "summ"]
    assert inst["list_handles"] == expected
    assert [h for page in inst["list_pages"] for h in page] == expected
    assert all(len(page) <= 2 for page in inst["list_pages"]) and len(inst["list_pages"]) == 3
    assert inst["list_across_summarize"] == ["defaults", "summ"]


def test_package_instance_delete(observed: dict[str, Any]) -> None:
    inst = observed["instances"]
    assert inst["deleted"] == {"id": inst["created"]["id"], "handle": "summ"}
    assert inst["get_deleted_error"] == 'PackageInstance "summ" in workspace "conf-ws" was not found.'
    assert inst["delete_twice_error"].startswith(f'PackageInstance with id "{inst["created"]["id"]}"')
