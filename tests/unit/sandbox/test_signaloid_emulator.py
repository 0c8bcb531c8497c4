"""The Signaloid emulator answers as the real API was observed to answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox.signaloid import create_app

KEY = {"Authorization": "scce_test_key"}
C0_S_PLUS = "cor_b21e4de9927158c1a5b603c2affb8a09"
C0_MICROSD_N = "cor_271d544c73a8544d9026252652342972"
URL = "https://github.com/acme/app"


def client(data_dir: Path | None = None, **kwargs: Any) -> TestClient:
    return TestClient(create_app(data_dir, **kwargs), headers=KEY)


def core_body(**overrides: Any) -> dict[str, Any]:
    body = {"Name": "fast", "Class": "C0", "Precision": 128, "MemorySize": 256000,
            "Microarchitecture": "Athens", "CorrelationTracking": "Autocorrelation"}  # fmt: skip
    return {**body, **overrides}


def repo_body(**overrides: Any) -> dict[str, Any]:
    return {"RemoteURL": URL, "Commit": "HEAD", "Branch": "main", "BuildDirectory": "src", **overrides}


@pytest.fixture
def api() -> TestClient:
    return client()


def all_pages(api: TestClient, path: str, key: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {}
    while True:
        body = api.get(path, params=params).json()
        pages.append(body[key])
        assert body["Count"] == len(body[key])
        if "ContinuationKey" not in body:
            return pages
        params = {"startKey": body["ContinuationKey"]}


# -- transport -----------------------------------------------------------------------------------


def test_health_needs_no_key() -> None:
    body = TestClient(create_app()).get("/health").json()
    assert {s["status"] for s in body["services"]} == {"healthy"}
    services = {s["service"]: s for s in body["services"]}
    assert set(services) == {"scdp", "scce-api", "scce-compute", "scce-build"}
    assert all(isinstance(s["details"]["responseTime"], int) for s in services.values())
    assert set(services["scce-api"]["details"]["endpoints"]) == {"builds", "tasks"}


def test_users_me_is_one_user_per_key(api: TestClient) -> None:
    me = api.get("/users/me").json()
    assert re.fullmatch(r"usr_[0-9a-f]{32}", me["UserID"])
    assert api.get("/users/me").json()["UserID"] == me["UserID"]
    other = api.get("/users/me", headers={"Authorization": "scce_other"}).json()
    assert other["UserID"] != me["UserID"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer scce_test_key"}])
def test_missing_or_bearer_key_is_401(headers: dict[str, str]) -> None:
    response = TestClient(create_app(), headers=headers).get("/cores")
    assert response.status_code == 401
    assert response.json()["message"]


def test_configured_key_rejects_others_with_403() -> None:
    api = client(api_key="scce_test_key")
    assert api.get("/cores").status_code == 200
    response = api.get("/cores", headers={"Authorization": "scce_wrong"})
    assert response.status_code == 403 and "not valid" in response.json()["message"]


def test_unknown_route_and_method() -> None:
    api = client()
    assert api.get("/nowhere").status_code == 404
    assert api.get("/nowhere").json() == {"message": "Not Found"}
    assert api.put("/cores").status_code == 405


@pytest.mark.parametrize(("content", "why"), [(b"{not json", "not valid JSON"), (b"[1]", "JSON object")])
def test_body_must_be_a_json_object(api: TestClient, content: bytes, why: str) -> None:
    response = api.post("/cores", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400 and why in response.json()["message"]


# -- cores ---------------------------------------------------------------------------------------


def test_create_core_returns_201_and_lowercases_correlation_tracking(api: TestClient) -> None:
    response = api.post("/cores", json=core_body(CorrelationTracking="AutoCorrelation"))
    assert response.status_code == 201
    core = response.json()
    assert re.fullmatch(r"cor_[0-9a-f]{32}", core["CoreID"])
    assert core["Object"] == "Core" and core["Owner"] == api.get("/users/me").json()["UserID"]
    assert core["CorrelationTracking"] == "autocorrelation"
    assert isinstance(core["CreatedAt"], int) and core["UpdatedAt"] == core["CreatedAt"]
    assert api.get(f"/cores/{core['CoreID']}").json() == core
    disabled = api.post("/cores", json=core_body(CorrelationTracking="DISABLE")).json()
    assert disabled["CorrelationTracking"] == "disable"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"Name": ""}, "Name"),
        ({"Class": "C1"}, "Class"),
        ({"Microarchitecture": "Mars"}, "Microarchitecture"),
        ({"CorrelationTracking": "sometimes"}, "CorrelationTracking"),
        ({"Precision": 3}, "Precision"),
        ({"Precision": 8001}, "Precision"),
        ({"Precision": "128"}, "Precision"),
        ({"Precision": True}, "Precision"),
        ({"MemorySize": 255_999}, "MemorySize"),
        ({"MemorySize": 4_000_000_001}, "MemorySize"),
        ({"name": "lowercase spelling"}, "name"),
    ],
)
def test_invalid_core_is_400_naming_the_field(api: TestClient, overrides: dict[str, Any], field: str) -> None:
    response = api.post("/cores", json=core_body(**overrides))
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert api.get("/cores").json()["Cores"] == []


def test_all_six_core_fields_are_required(api: TestClient) -> None:
    body = core_body()
    del body["MemorySize"]
    response = api.post("/cores", json=body)
    assert response.status_code == 400 and "MemorySize" in response.json()["message"]


def test_reference_allows_a_million_precision(api: TestClient) -> None:
    ok = api.post("/cores", json=core_body(Microarchitecture="Reference", Precision=1_000_000))
    assert ok.status_code == 201
    too_big = api.post("/cores", json=core_body(Microarchitecture="Reference", Precision=1_000_001))
    assert too_big.status_code == 400 and "Precision" in too_big.json()["message"]


def test_duplicate_core_names_are_allowed(api: TestClient) -> None:
    first, second = (api.post("/cores", json=core_body()).json() for _ in range(2))
    assert first["CoreID"] != second["CoreID"]


def test_get_core_unknown_is_404_malformed_is_400(api: TestClient) -> None:
    assert api.get("/cores/cor_" + "0" * 32).status_code == 404
    response = api.get("/cores/nope")
    assert response.status_code == 400 and "CoreID" in response.json()["message"]


def test_patch_core_changes_fields(api: TestClient) -> None:
    core = api.post("/cores", json=core_body()).json()
    patch = core_body(Precision=256, CorrelationTracking="Disable")  # all six: CorePatchRequest
    response = api.patch(f"/cores/{core['CoreID']}", json=patch)
    assert response.status_code == 200 and response.json() == {"message": "OK"}
    after = api.get(f"/cores/{core['CoreID']}").json()
    assert (after["Precision"], after["CorrelationTracking"], after["Name"]) == (256, "disable", "fast")
    assert after["UpdatedAt"] >= core["UpdatedAt"]


@pytest.mark.parametrize(
    ("patch", "why"),
    [
        ({}, "required"),
        # Some of the six fields only: the seed marks each required (as the SDK's CorePatchRequest).
        ({"Precision": 256}, "required"),
        ({"Precision": 256, "CorrelationTracking": "Disable"}, "required"),
        (core_body(), "must change"),
        (core_body(CorrelationTracking="AUTOCORRELATION"), "must change"),
        (core_body(Class="C9"), "Class"),
        (core_body(Precision=9000), "Precision"),
    ],
)
def test_patch_core_rejections(api: TestClient, patch: dict[str, Any], why: str) -> None:
    core = api.post("/cores", json=core_body()).json()
    response = api.patch(f"/cores/{core['CoreID']}", json=patch)
    assert response.status_code == 400 and why in response.json()["message"]
    assert api.get(f"/cores/{core['CoreID']}").json() == core


def test_patch_checks_precision_against_the_resulting_microarchitecture(api: TestClient) -> None:
    core = api.post("/cores", json=core_body(Microarchitecture="Reference", Precision=100_000)).json()
    response = api.patch(
        f"/cores/{core['CoreID']}", json=core_body(Microarchitecture="Athens", Precision=100_000)
    )
    assert response.status_code == 400 and "Precision" in response.json()["message"]


def test_delete_core(api: TestClient) -> None:
    core = api.post("/cores", json=core_body()).json()
    assert api.delete(f"/cores/{core['CoreID']}").json() == {"message": "OK"}
    assert api.get(f"/cores/{core['CoreID']}").status_code == 404
    assert api.delete(f"/cores/{core['CoreID']}").status_code == 404


def test_default_cores_only_with_default_true(api: TestClient) -> None:
    custom = api.post("/cores", json=core_body()).json()
    assert [c["CoreID"] for c in api.get("/cores").json()["Cores"]] == [custom["CoreID"]]
    defaults = api.get("/cores", params={"default": "true"}).json()["Cores"]
    ids = {c["CoreID"] for c in defaults}
    assert {C0_S_PLUS, C0_MICROSD_N} <= ids and custom["CoreID"] not in ids
    assert {c["Owner"] for c in defaults} == {"signaloid"}
    assert api.get(f"/cores/{C0_S_PLUS}").status_code == 404
    assert api.get(f"/cores/{C0_S_PLUS}", params={"default": "true"}).json()["Name"] == "C0-S+"
    assert api.get("/cores", params={"default": "maybe"}).status_code == 400


def test_default_cores_are_immutable(api: TestClient) -> None:
    path = f"/cores/{C0_S_PLUS}"
    patch = api.patch(path, json=core_body(Precision=64))
    assert patch.status_code == 403 and "default core" in patch.json()["message"]  # the seed lists 403 there
    delete = api.delete(path)  # Delete Core lists 400 and 404, never 403
    assert delete.status_code == 400 and "default core" in delete.json()["message"]
    assert C0_S_PLUS in {c["CoreID"] for c in api.get("/cores?default=true").json()["Cores"]}


@pytest.mark.parametrize(("count", "sizes"), [(12, [5, 5, 2]), (10, [5, 5]), (0, [0])])
def test_cores_paginate_in_creation_order(count: int, sizes: list[int]) -> None:
    api = client()
    created = [api.post("/cores", json=core_body(Name=f"c{i}")).json()["CoreID"] for i in range(count)]
    pages = all_pages(api, "/cores", "Cores")
    assert [len(page) for page in pages] == sizes
    assert [core["CoreID"] for page in pages for core in page] == created


def test_continuation_key_survives_deleting_its_item(api: TestClient) -> None:
    created = [api.post("/cores", json=core_body(Name=f"c{i}")).json()["CoreID"] for i in range(7)]
    key = api.get("/cores").json()["ContinuationKey"]
    assert key == created[4]
    api.delete(f"/cores/{key}")
    rest = api.get("/cores", params={"startKey": key}).json()
    assert [c["CoreID"] for c in rest["Cores"]] == created[5:] and "ContinuationKey" not in rest
    response = api.get("/cores", params={"startKey": "cor_" + "f" * 32})
    assert response.status_code == 400 and "startKey" in response.json()["message"]


def test_users_do_not_see_each_others_objects(api: TestClient) -> None:
    core = api.post("/cores", json=core_body()).json()
    other = {"Authorization": "scce_other"}
    assert api.get("/cores", headers=other).json()["Cores"] == []
    assert api.get(f"/cores/{core['CoreID']}", headers=other).status_code == 404


# -- repositories --------------------------------------------------------------------------------


def test_connect_repository_with_defaults(api: TestClient) -> None:
    response = api.post("/repositories", json=repo_body())
    assert response.status_code == 201
    repo = response.json()
    assert re.fullmatch(r"rep_[0-9a-f]{32}", repo["RepositoryID"]) and repo["Object"] == "Repository"
    unset = (repo["Arguments"], repo["Core"], repo["DataSources"], repo["TraceVariables"])
    assert unset == ("", None, [], [])
    assert api.get(f"/repositories/{repo['RepositoryID']}").json() == repo


def test_connect_repository_with_everything(api: TestClient) -> None:
    core = api.post("/cores", json=core_body()).json()["CoreID"]
    sources = [{"ResourceID": "bkt_1", "ResourceType": "Bucket", "Location": "data/"}]
    traces = [{"File": "main.c", "LineNumber": 12, "Expression": "x"}]
    body = repo_body(Arguments="-n 3", Core=core, DataSources=sources, TraceVariables=traces)
    repo = api.post("/repositories", json=body).json()
    assert (repo["Core"], repo["DataSources"], repo["TraceVariables"]) == (core, sources, traces)
    with_default = api.post("/repositories", json=repo_body(Branch="dev", Core=C0_MICROSD_N))
    assert with_default.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"RemoteURL": "git@github.com:acme/app.git"}, "SSH"),
        ({"RemoteURL": "ssh://git@github.com/acme/app.git"}, "SSH"),
        ({"RemoteURL": "github.com/acme/app"}, "RemoteURL"),
        ({"Branch": ""}, "Branch"),
        ({"Core": "cor_" + "0" * 32}, "Core"),
        ({"Core": "fast"}, "Core"),
        ({"DataSources": [{"ResourceID": "x", "ResourceType": "Bucket", "Location": ""}] * 6}, "DataSources"),
        ({"DataSources": [{"ResourceID": "x", "ResourceType": "Disk", "Location": ""}]}, "ResourceType"),
        ({"TraceVariables": [{"File": "a.c", "LineNumber": "3", "Expression": "x"}]}, "LineNumber"),
        ({"Commit": None}, "Commit"),
    ],
)
def test_invalid_repository_is_400(api: TestClient, overrides: dict[str, Any], field: str) -> None:
    response = api.post("/repositories", json=repo_body(**overrides))
    assert response.status_code == 400 and field in response.json()["message"]


def test_repository_required_fields(api: TestClient) -> None:
    response = api.post("/repositories", json={"RemoteURL": URL})
    assert response.status_code == 400
    assert all(name in response.json()["message"] for name in ("Commit", "Branch", "BuildDirectory"))


def test_same_url_and_branch_cannot_be_connected_twice(api: TestClient) -> None:
    first = api.post("/repositories", json=repo_body()).json()
    again = api.post("/repositories", json=repo_body(Commit="abc"))
    assert again.status_code == 409 and first["RepositoryID"] in again.json()["message"]
    assert api.post("/repositories", json=repo_body(Branch="dev")).status_code == 201


def test_lookup_repository(api: TestClient) -> None:
    repo = api.post("/repositories", json=repo_body()).json()
    found = api.get("/repositories/lookup", params={"remoteURL": URL, "branch": "main"})
    assert found.json() == {"RepositoryID": repo["RepositoryID"]}
    assert api.get("/repositories/lookup", params={"remoteURL": URL, "branch": "dev"}).status_code == 404
    assert api.get("/repositories/lookup", params={"remoteURL": URL}).status_code == 400


def test_patch_repository_fields(api: TestClient) -> None:
    repo = api.post("/repositories", json=repo_body()).json()
    path = f"/repositories/{repo['RepositoryID']}"
    answer = api.patch(path, json={"Commit": "abc123", "Core": C0_S_PLUS})
    after = api.get(path).json()
    assert (after["Commit"], after["Core"], after["Branch"]) == ("abc123", C0_S_PLUS, "main")
    assert answer.json() == after  # the reference answers a PATCH with the edited repository
    assert api.patch(path, json={"Commit": "abc123"}).status_code == 400  # nothing would change
    assert api.patch(path, json={}).status_code == 400
    assert api.patch(path, json={"Core": "cor_" + "0" * 32}).status_code == 400


def test_patch_repository_remove(api: TestClient) -> None:
    traces = [{"File": "main.c", "LineNumber": 1, "Expression": "x"}]
    repo = api.post("/repositories", json=repo_body(Core=C0_S_PLUS, TraceVariables=traces)).json()
    path = f"/repositories/{repo['RepositoryID']}"
    assert api.patch(f"{path}?remove=Core&remove=TraceVariables").status_code == 200
    after = api.get(path).json()
    assert (after["Core"], after["TraceVariables"], after["Commit"]) == (None, [], "HEAD")
    combined = api.patch(f"{path}?remove=DataSources", json={"Commit": "x"})
    assert combined.status_code == 400 and "remove" in combined.json()["message"]
    assert api.patch(f"{path}?remove=Branch").status_code == 400
    assert api.patch(f"{path}?remove=Core").status_code == 400  # already unset: no change


def test_patch_repository_onto_a_connected_branch_is_409(api: TestClient) -> None:
    api.post("/repositories", json=repo_body())
    dev = api.post("/repositories", json=repo_body(Branch="dev")).json()
    assert api.patch(f"/repositories/{dev['RepositoryID']}", json={"Branch": "main"}).status_code == 409


def test_repositories_paginate_and_delete(api: TestClient) -> None:
    ids = [api.post("/repositories", json=repo_body(Branch=f"b{i}")).json()["RepositoryID"] for i in range(6)]
    pages = all_pages(api, "/repositories", "Repositories")
    assert [[r["RepositoryID"] for r in page] for page in pages] == [ids[:5], ids[5:]]
    assert api.delete(f"/repositories/{ids[0]}").json() == {"message": "OK"}
    assert api.get(f"/repositories/{ids[0]}").status_code == 404
    assert api.get("/repositories/rep_short").status_code == 400


# -- webhooks ------------------------------------------------------------------------------------


def test_create_webhook_camel_in_pascal_out(api: TestClient) -> None:
    body = {"url": "https://hooks.example/x", "events": ["task-status", "build-count"], "description": "ci"}
    response = api.post("/webhooks", json=body)
    assert response.status_code == 201
    hook = response.json()
    assert re.fullmatch(r"wh-[0-9a-f]{32}", hook["WebhookID"])
    assert hook["Secret"].startswith("whsec_") and len(hook["Secret"]) > len("whsec_")
    assert (hook["Object"], hook["URL"], hook["Events"]) == ("webhook", body["url"], body["events"])
    assert (hook["Description"], hook["Status"], hook["FailureCount"]) == ("ci", "active", 0)
    assert hook["LastDeliveryStatus"] is None and hook["LastDeliveryTime"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hook["CreatedAt"])
    assert api.get(f"/webhooks/{hook['WebhookID']}").json() == hook


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example", "events": ["task-status"]}, "url"),
        ({"url": "not a url", "events": ["task-status"]}, "url"),
        ({"url": "https://h.example", "events": []}, "events"),
        ({"url": "https://h.example", "events": ["task-done"]}, "events[0]"),
        ({"url": "https://h.example"}, "events"),
        ({"URL": "https://h.example", "Events": ["task-status"]}, "URL"),
    ],
)
def test_invalid_webhook_is_400(api: TestClient, body: dict[str, Any], field: str) -> None:
    response = api.post("/webhooks", json=body)
    assert response.status_code == 400 and field in response.json()["message"]


def test_webhooks_list_is_not_paginated() -> None:
    api = client(page_size=2)
    for i in range(3):
        api.post("/webhooks", json={"url": f"https://h.example/{i}", "events": ["task-status"]})
    body = api.get("/webhooks").json()
    assert set(body) == {"webhooks", "count"} and body["count"] == 3
    assert [h["URL"] for h in body["webhooks"]] == [f"https://h.example/{i}" for i in range(3)]


def test_put_webhook_is_partial(api: TestClient) -> None:
    hook = api.post("/webhooks", json={"url": "https://h.example", "events": ["task-status"]}).json()
    path = f"/webhooks/{hook['WebhookID']}"
    response = api.put(path, json={"status": "disabled", "description": "off"})
    assert response.status_code == 200
    updated = response.json()
    assert (updated["Status"], updated["Description"]) == ("disabled", "off")
    assert all(updated[name] == hook[name] for name in ("URL", "Secret", "Events", "CreatedAt"))
    assert api.get(path).json() == updated
    assert api.put(path, json={}).status_code == 400
    assert api.put(path, json={"status": "paused"}).status_code == 400


def test_delete_webhook(api: TestClient) -> None:
    hook = api.post("/webhooks", json={"url": "https://h.example", "events": ["task-status"]}).json()
    assert api.delete(f"/webhooks/{hook['WebhookID']}").json() == {"message": "OK"}
    assert api.get(f"/webhooks/{hook['WebhookID']}").status_code == 404
    assert api.get("/webhooks").json() == {"webhooks": [], "count": 0}


# -- persistence ---------------------------------------------------------------------------------


def test_two_apps_on_one_data_dir_share_data(tmp_path: Path) -> None:
    first = client(tmp_path)
    cores = [first.post("/cores", json=core_body(Name=f"c{i}")).json() for i in range(7)]
    repo = first.post("/repositories", json=repo_body()).json()
    hook = first.post("/webhooks", json={"url": "https://h.example", "events": ["task-status"]}).json()
    key = first.get("/cores").json()["ContinuationKey"]
    first.delete(f"/cores/{key}")

    second = client(tmp_path)
    assert [c["CoreID"] for c in second.get("/cores", params={"startKey": key}).json()["Cores"]] == [
        c["CoreID"] for c in cores[5:]
    ]
    assert second.get(f"/repositories/{repo['RepositoryID']}").json() == repo
    assert second.get("/webhooks").json()["webhooks"] == [hook]
    assert second.post("/repositories", json=repo_body()).status_code == 409


def test_memory_only_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client().post("/cores", json=core_body())
    assert list(tmp_path.iterdir()) == []
    assert client().get("/cores").json()["Cores"] == []
