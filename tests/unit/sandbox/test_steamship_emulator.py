"""The Steamship emulator, through HTTP, with a fake clock (no sleeps)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox.steamship import EXISTS_MESSAGE, create_app
from reconciler.sandbox.steamship_packages import INVALID_CONFIG_MESSAGE

AUTH = {"Authorization": "Bearer test-key"}
UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
INSTANCE_KEYS = {
    "id", "handle", "packageId", "packageHandle", "userHandle", "packageVersionId", "packageVersionHandle",
    "userId", "invocationURL", "invocationUrl", "config", "workspaceId", "workspaceHandle", "initStatus",
    "createdAt",
}  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Engine:
    """A TestClient with the engine's calling convention: POST a camelCase body to an operation."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client, self.clock = client, clock

    def call(self, operation: str, body: dict[str, Any] | None = None, *, status: int = 200,
             **headers: Any) -> dict[str, Any]:  # fmt: skip
        response = self.client.post(f"/api/v1/{operation}", json=body or {}, headers={**AUTH, **headers})
        assert response.status_code == status, response.text
        return response.json()

    def error(self, operation: str, body: dict[str, Any], status: int, **headers: str) -> dict[str, Any]:
        payload = self.call(operation, body, status=status, **headers)
        assert set(payload) == {"status"}
        assert payload["status"]["state"] == "failed"
        return payload["status"]

    def instance(self, handle: str, package: str = "hello-world", **body: Any) -> dict[str, Any]:
        payload = self.call("package/instance/create", {"packageHandle": package, "handle": handle, **body})
        return payload["data"]["packageInstance"]


def make_engine(data_dir: Path | None = None, clock: FakeClock | None = None, **kwargs: Any) -> Engine:
    clock = clock or FakeClock()
    app = create_app(data_dir, init_seconds=3.0, task_seconds=3.0, clock=clock, **kwargs)
    return Engine(TestClient(app), clock)


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def test_missing_key_is_401_in_the_engine_error_shape(engine: Engine) -> None:
    response = engine.client.post("/api/v1/workspace/list", json={})
    assert response.status_code == 401
    status = response.json()["status"]
    assert status["state"] == "failed"
    assert status["statusCode"] == "Unauthorized"
    assert "Bearer" in status["statusSuggestion"]


def test_configured_key_is_enforced_and_any_key_accepted_otherwise() -> None:
    strict = make_engine(api_key="right")
    assert strict.error("workspace/list", {}, 403, Authorization="Bearer wrong")["statusCode"] == "Forbidden"
    assert "data" in strict.call("workspace/list", {}, Authorization="Bearer right")
    assert "data" in make_engine().call("workspace/list", {}, Authorization="Bearer anything")


def test_workspace_create_envelope_and_ids(engine: Engine) -> None:
    payload = engine.call("workspace/create", {"handle": "research", "fetchIfExists": True})
    assert set(payload) == {"data"}
    workspace = payload["data"]["workspace"]
    assert workspace["handle"] == "research"
    assert UUID_UPPER.match(workspace["id"])
    assert not any(key.startswith("_") for key in workspace)


def test_workspace_already_exists_and_fetch_if_exists(engine: Engine) -> None:
    first = engine.call("workspace/create", {"handle": "research"})["data"]["workspace"]
    status = engine.error("workspace/create", {"handle": "research", "fetchIfExists": False}, 409)
    assert status["statusMessage"] == EXISTS_MESSAGE
    again = engine.call("workspace/create", {"handle": "research", "fetchIfExists": True})["data"][
        "workspace"
    ]
    assert again["id"] == first["id"]


@pytest.mark.parametrize("handle", ["Research", "has space", "-leading", "under_score", "x" * 101])
def test_invalid_workspace_handles_are_refused(engine: Engine, handle: str) -> None:
    status = engine.error("workspace/create", {"handle": handle}, 400)
    assert "lowercase letters, digits and dashes" in status["statusMessage"]


def test_workspace_get_by_id_or_handle(engine: Engine) -> None:
    ws = engine.call("workspace/create", {"handle": "research"})["data"]["workspace"]
    assert engine.call("workspace/get", {"id": ws["id"]})["data"]["workspace"] == ws
    assert engine.call("workspace/get", {"handle": "research"})["data"]["workspace"] == ws
    status = engine.error("workspace/get", {"handle": "nope"}, 404)
    assert '"nope"' in status["statusMessage"]


def test_workspace_list_pages_newest_first(engine: Engine) -> None:
    for n in range(5):
        engine.call("workspace/create", {"handle": f"ws-{n}"})
    seen, token, pages = [], None, 0
    while True:
        data = engine.call("workspace/list", {"pageSize": 2, "pageToken": token})["data"]
        assert len(data["workspaces"]) <= 2
        seen += [w["handle"] for w in data["workspaces"]]
        pages += 1
        token = data["nextPageToken"]
        if token is None:
            break
    assert seen == ["ws-4", "ws-3", "ws-2", "ws-1", "ws-0"]
    assert pages == 3
    ascending = engine.call("workspace/list", {"sortOrder": "ASC", "pageSize": 10})["data"]
    assert [w["handle"] for w in ascending["workspaces"]] == ["ws-0", "ws-1", "ws-2", "ws-3", "ws-4"]
    assert ascending["nextPageToken"] is None


def test_page_size_is_capped_and_bad_tokens_refused() -> None:
    engine = make_engine(page_size_max=3)
    for n in range(4):
        engine.call("workspace/create", {"handle": f"ws-{n}"})
    data = engine.call("workspace/list", {"pageSize": 50})["data"]
    assert len(data["workspaces"]) == 3
    assert data["nextPageToken"] is not None
    engine.error("workspace/list", {"pageToken": "not-a-token"}, 400)
    engine.error("workspace/list", {"sortOrder": "ASC", "pageToken": data["nextPageToken"]}, 400)
    engine.error("workspace/list", {"pageSize": 0}, 400)


def test_workspace_delete_is_a_task_that_waits_runs_and_succeeds(engine: Engine) -> None:
    ws = engine.call("workspace/create", {"handle": "doomed"})["data"]["workspace"]
    engine.instance("inside", workspaceId=ws["id"])
    first = engine.call("workspace/delete", {"id": ws["id"]})
    assert "data" not in first
    task_id = first["status"]["taskId"]
    assert first["status"]["state"] == "waiting"
    engine.clock.now += 1.5
    assert engine.call("task/status", {"taskId": task_id})["status"]["state"] == "running"
    engine.clock.now += 1.5
    done = engine.call("task/status", {"taskId": task_id})
    assert done["status"]["state"] == "succeeded"
    assert done["data"] == {"workspace": ws}
    # Gone at once, with everything in it; a second delete is an error.
    engine.error("workspace/get", {"id": ws["id"]}, 404)
    listed = engine.call("package/instance/list", {"acrossWorkspaces": True})["data"]["packageInstances"]
    assert listed == []
    assert "was not found" in engine.error("workspace/delete", {"id": ws["id"]}, 404)["statusMessage"]


def test_task_get_answers_the_task_and_account_current_the_user(engine: Engine) -> None:
    ws = engine.call("workspace/create", {"handle": "doomed"})["data"]["workspace"]
    task_id = engine.call("workspace/delete", {"id": ws["id"]})["status"]["taskId"]
    got = engine.call("task/get", {"id": task_id})
    assert set(got) == {"data"} and (got["data"]["taskId"], got["data"]["state"]) == (task_id, "waiting")
    engine.clock.now += 3.0
    assert engine.call("task/get", {"id": task_id})["data"]["state"] == "succeeded"
    assert "was not found" in engine.error("task/get", {"id": "nope"}, 404)["statusMessage"]
    assert engine.error("task/get", {}, 400)["statusMessage"].startswith('"id" is required')
    user = engine.client.get("/api/v1/account/current", headers=AUTH).json()["data"]["user"]
    assert user["handle"] == "sandbox" and user["id"]


def _headers(values: dict[str, Any]) -> dict[str, Any]:
    """Header keyword arguments, typed so they cannot be taken for ``status``."""
    return values


def test_background_header_turns_any_operation_into_a_task_that_can_fail(engine: Engine) -> None:
    ok = engine.call("workspace/create", {"handle": "later"}, **_headers({"X-Task-Background": "True"}))
    assert ok["status"]["state"] == "waiting"
    bad = engine.call("package/instance/create", {"packageHandle": "nope", "handle": "x"},
                      **_headers({"X-Task-Background": "true"}))  # fmt: skip
    engine.clock.now += 3
    succeeded = engine.call("task/status", {"taskId": ok["status"]["taskId"]})
    assert succeeded["data"]["workspace"]["handle"] == "later"
    failed = engine.call("task/status", {"taskId": bad["status"]["taskId"]})
    assert failed["status"]["state"] == "failed"
    assert failed["status"]["statusMessage"] == 'Package "nope" was not found.'
    assert failed["status"]["statusCode"] == "NotFound"
    assert "data" not in failed
    engine.error("task/status", {"taskId": "NOPE"}, 404)


def test_instance_create_shape_latest_version_and_default_workspace(engine: Engine) -> None:
    inst = engine.instance("greeter")
    assert set(inst) == INSTANCE_KEYS
    assert inst["packageHandle"] == "hello-world"
    assert inst["packageVersionHandle"] == "1.1.0"
    assert inst["workspaceHandle"] == "default"
    assert inst["config"] == {}
    assert inst["invocationURL"] == f"https://{inst['userHandle']}.steamship.run/default/greeter/"
    assert inst["invocationUrl"] == inst["invocationURL"]
    default = engine.call("workspace/get", {"handle": "default"})["data"]["workspace"]
    assert inst["workspaceId"] == default["id"]
    pinned = engine.instance("old-greeter", packageVersionHandle="1.0.0")
    assert pinned["packageVersionHandle"] == "1.0.0"
    assert pinned["packageVersionId"] != inst["packageVersionId"]


def test_workspace_headers_id_wins_over_handle(engine: Engine) -> None:
    a = engine.call("workspace/create", {"handle": "a"})["data"]["workspace"]
    engine.call("workspace/create", {"handle": "b"})
    body = {"packageHandle": "hello-world", "handle": "h"}
    created = engine.call(
        "package/instance/create", body, **{"X-Workspace-Id": a["id"], "X-Workspace-Handle": "b"}
    )
    assert created["data"]["packageInstance"]["workspaceHandle"] == "a"
    by_handle = engine.call("package/instance/get", {"handle": "h"}, **_headers({"X-Workspace-Handle": "a"}))
    assert by_handle["data"]["packageInstance"]["id"] == created["data"]["packageInstance"]["id"]
    engine.error("package/instance/get", {"handle": "h"}, 404, **{"X-Workspace-Handle": "b"})
    engine.error("package/instance/get", {"handle": "h"}, 404, **{"X-Workspace-Handle": "missing"})


def test_init_status_goes_initializing_then_complete(engine: Engine) -> None:
    inst = engine.instance("greeter")
    assert inst["initStatus"] == "initializing"
    engine.clock.now += 2.9
    assert engine.call("package/instance/get", {"handle": "greeter"})["data"]["packageInstance"][
        "initStatus"
    ] == ("initializing")
    engine.clock.now += 0.1
    got = engine.call("package/instance/get", {"id": inst["id"]})["data"]["packageInstance"]
    assert got["initStatus"] == "complete"
    assert "initStatusMessage" not in got


def test_broken_init_fails_with_a_message(engine: Engine) -> None:
    inst = engine.instance("broken", package="broken-init")
    assert inst["initStatus"] == "initializing"
    engine.clock.now += 3
    got = engine.call("package/instance/get", {"handle": "broken"})["data"]["packageInstance"]
    assert got["initStatus"] == "failed"
    assert "broken-init raised an error" in got["initStatusMessage"]


def test_instance_already_exists_and_fetch_if_exists_keeps_the_config(engine: Engine) -> None:
    first = engine.instance("summ", package="summarize-text", config={"model": "gpt-4", "max_words": 200})
    status = engine.error(
        "package/instance/create",
        {"packageHandle": "summarize-text", "handle": "summ", "config": {"model": "x"}},
        409,
    )
    assert status["statusMessage"] == EXISTS_MESSAGE
    fetched = engine.instance("summ", package="summarize-text", fetchIfExists=True, config={"model": "other"})
    assert fetched["id"] == first["id"]
    assert fetched["config"] == {"model": "gpt-4", "max_words": 200}


def test_config_defaults_are_filled_and_numbers_coerced(engine: Engine) -> None:
    assert engine.instance("a", package="summarize-text", config={"model": "gpt-4"})["config"] == {
        "model": "gpt-4", "max_words": 100,
    }  # fmt: skip
    coerced = engine.instance("b", package="summarize-text", config={"model": "m", "max_words": "250"})
    assert coerced["config"]["max_words"] == 250


@pytest.mark.parametrize(
    ("package", "config", "expected"),
    [
        ("summarize-text", {}, 'missing required parameter "model"'),
        ("summarize-text", {"model": "m", "max_words": "lots"}, 'parameter "max_words" must be a number'),
        ("summarize-text", {"model": 4}, 'parameter "model" must be a string'),
        ("summarize-text", {"model": "m", "max_words": True}, 'parameter "max_words" must be a number'),
        ("summarize-text", {"model": "m", "colour": "red"}, 'unknown parameter "colour"'),
        ("hello-world", {"x": 1}, "this package takes no configuration"),
    ],
)
def test_invalid_config_is_refused(
    engine: Engine, package: str, config: dict[str, Any], expected: str
) -> None:
    body = {"packageHandle": package, "handle": "bad", "config": config}
    message = engine.error("package/instance/create", body, 400)["statusMessage"]
    assert message.startswith(INVALID_CONFIG_MESSAGE)
    assert expected.lower() in message.lower()
    engine.error("package/instance/get", {"handle": "bad"}, 404)


def test_all_config_problems_are_reported_together(engine: Engine) -> None:
    body = {"packageHandle": "summarize-text", "handle": "bad", "config": {"max_words": "x", "extra": 1}}
    message = engine.error("package/instance/create", body, 400)["statusMessage"]
    assert all(p in message for p in ('"model"', '"max_words"', '"extra"'))


def test_unknown_package_or_version_names_it(engine: Engine) -> None:
    status = engine.error("package/instance/create", {"packageHandle": "nope", "handle": "x"}, 404)
    assert status["statusMessage"] == 'Package "nope" was not found.'
    body = {"packageHandle": "summarize-text", "packageVersionHandle": "9.9.9", "handle": "x", "config": {}}
    status = engine.error("package/instance/create", body, 404)
    assert status["statusMessage"] == 'Version "9.9.9" of package "summarize-text" was not found.'


def test_package_get_has_latest_version_and_config_template(engine: Engine) -> None:
    package = engine.call("package/get", {"handle": "summarize-text"})["data"]["package"]
    assert package["profile"]["version"] == "1.2.0"
    template = package["profile"]["configTemplate"]
    assert template["model"]["type"] == "string" and "default" not in template["model"]
    assert template["max_words"] == {**template["max_words"], "type": "number", "default": 100}
    instance = engine.instance("s", package="summarize-text", config={"model": "m"})
    assert instance["packageId"] == package["id"]
    engine.error("package/get", {"handle": "nope"}, 404)


def test_instance_list_scope_filters_and_paging(engine: Engine) -> None:
    other = engine.call("workspace/create", {"handle": "other"})["data"]["workspace"]
    for n in range(3):
        engine.instance(f"hello-{n}")
    engine.instance("summ", package="summarize-text", config={"model": "m"})
    engine.instance("elsewhere", workspaceId=other["id"])
    page1 = engine.call("package/instance/list", {"pageSize": 3})["data"]
    assert [i["handle"] for i in page1["packageInstances"]] == ["summ", "hello-2", "hello-1"]
    page2 = engine.call("package/instance/list", {"pageSize": 3, "pageToken": page1["nextPageToken"]})["data"]
    assert [i["handle"] for i in page2["packageInstances"]] == ["hello-0"]
    assert page2["nextPageToken"] is None
    across = engine.call("package/instance/list", {"acrossWorkspaces": True})["data"]["packageInstances"]
    assert len(across) == 5
    summ_package = engine.call("package/get", {"handle": "summarize-text"})["data"]["package"]["id"]
    filtered = engine.call("package/instance/list", {"packageId": summ_package})["data"]["packageInstances"]
    assert [i["handle"] for i in filtered] == ["summ"]
    version_id = page1["packageInstances"][1]["packageVersionId"]
    by_version = engine.call(
        "package/instance/list", {"packageVersionId": version_id, "acrossWorkspaces": True}
    )
    assert len(by_version["data"]["packageInstances"]) == 4


def test_instance_delete_by_id_only(engine: Engine) -> None:
    inst = engine.instance("greeter")
    engine.error("package/instance/delete", {"handle": "greeter"}, 400)
    deleted = engine.call("package/instance/delete", {"id": inst["id"]})["data"]["packageInstance"]
    assert deleted["id"] == inst["id"]
    engine.error("package/instance/get", {"handle": "greeter"}, 404)
    engine.error("package/instance/delete", {"id": inst["id"]}, 404)
    assert engine.instance("greeter")["id"] != inst["id"]


def test_get_variant_and_bad_requests(engine: Engine) -> None:
    engine.call("workspace/create", {"handle": "research"})
    response = engine.client.get("/api/v1/workspace/get", params={"handle": "research"}, headers=AUTH)
    assert response.json()["data"]["workspace"]["handle"] == "research"
    response = engine.client.post("/api/v1/workspace/get", content=b"{not json", headers=AUTH)
    assert response.status_code == 400 and response.json()["status"]["statusCode"] == "BadRequest"
    assert engine.error("no/such/op", {}, 404)["statusMessage"] == 'Unknown operation "no/such/op".'
    engine.error("workspace/delete", {"handle": "research"}, 400)


def test_state_persists_across_apps_and_pending_work_is_finished(tmp_path: Path) -> None:
    first = make_engine(tmp_path)
    ws = first.call("workspace/create", {"handle": "research"})["data"]["workspace"]
    inst = first.instance("summ", package="summarize-text", config={"model": "m"}, workspaceId=ws["id"])
    background = _headers({"X-Task-Background": "true"})
    task = first.call("workspace/create", {"handle": "bg"}, **background)["status"]
    assert inst["initStatus"] == "initializing"
    assert (tmp_path / "steamship.json").exists()

    second = make_engine(tmp_path)
    assert second.call("workspace/get", {"handle": "research"})["data"]["workspace"] == ws
    got = second.call("package/instance/get", {"handle": "summ"}, **{"X-Workspace-Id": ws["id"]})
    assert got["data"]["packageInstance"] == {**inst, "initStatus": "complete"}
    assert second.call("task/status", {"taskId": task["taskId"]})["status"]["state"] == "succeeded"
    second.call("workspace/create", {"handle": "research", "fetchIfExists": False}, status=409)
    newer = second.call("workspace/create", {"handle": "newer"})["data"]["workspace"]
    listed = second.call("workspace/list", {})["data"]["workspaces"]
    assert listed[0] == newer
