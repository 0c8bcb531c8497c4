"""The Scramjet provider against a fake 0.18.7-shaped hub (httpx2.MockTransport, fake clock, no sleeps)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx2
import pytest

from reconciler.engine.deciding.plan import plan
from reconciler.errors import PlanError, ProviderError
from reconciler.packages.pack import load_package
from reconciler.providers.http import ApiClient
from reconciler.providers.scramjet import build
from reconciler.providers.scramjet.provider import ScramjetProvider
from reconciler.providers.settings import Providers, ScramjetSettings
from reconciler.state.base import StateSnapshot
from reconciler.values import Desired, LiveState


class OldHub:
    """Just enough of Transform Hub 0.18.7: no PUT, duplicates accepted, thin instance list."""

    def __init__(self) -> None:
        self.sequences: dict[str, str] = {}  # id -> name
        self.instances: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.lose_next_upload = False
        self.ignore_stop = False
        self.count = 0
        self.version: str | None = "0.18.7"  # None: no /version route

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/api/v1")
        self.calls.append(f"{request.method} {path}")
        if request.method in ("POST", "DELETE") and path != "/sequence":
            assert request.headers.get("content-type") == "application/json", path
        parts = path.strip("/").split("/")
        if (request.method, path) == ("GET", "/version") and self.version is not None:
            return httpx2.Response(200, json={"version": self.version})
        if (request.method, path) == ("GET", "/sequences"):
            return httpx2.Response(200, json=[self._view(i) for i in self.sequences])
        if (request.method, path) == ("GET", "/instances"):
            return httpx2.Response(
                200, json=[{"id": i, "sequence": v["sequence"]} for i, v in self.instances.items()]
            )
        if (request.method, path) == ("POST", "/sequence"):
            assert request.headers["content-type"] == "application/octet-stream"
            with tarfile.open(fileobj=io.BytesIO(request.content), mode="r:gz") as tar:
                manifest = tar.extractfile("package.json")
                name = json.loads(manifest.read() if manifest else b"{}")["name"]
            seq_id = self._id("seq")
            self.sequences[seq_id] = name
            if self.lose_next_upload:
                self.lose_next_upload = False
                raise httpx2.ReadError("connection reset", request=request)
            return httpx2.Response(200, json={"id": seq_id})
        if parts[0] == "sequence" and len(parts) >= 2:
            seq_id = parts[1]
            if request.method == "PUT":
                return httpx2.Response(404)  # no such route on 0.18.7
            if seq_id not in self.sequences:
                return httpx2.Response(404, json={})
            if request.method == "GET":
                return httpx2.Response(200, json=self._view(seq_id))
            if request.method == "DELETE":
                if any(v["sequence"] == seq_id for v in self.instances.values()):
                    return httpx2.Response(409, json={"opStatus": "Conflict"})
                del self.sequences[seq_id]
                return httpx2.Response(200, json={"opStatus": "OK", "id": seq_id})
            body = json.loads(request.content)
            inst = self._id("inst")
            self.instances[inst] = {
                "sequence": seq_id,
                "sequenceArgs": body["args"],
                "appConfig": body["appConfig"],
            }
            return httpx2.Response(200, json={"opStatus": "OK", "id": inst})
        if parts[0] == "instance":
            inst = parts[1]
            if inst not in self.instances:
                return httpx2.Response(404)
            if len(parts) == 2:
                return httpx2.Response(200, json={"id": inst, **self.instances[inst]})
            if parts[2] == "health":
                return httpx2.Response(200, json={"healthy": True})
            if parts[2] == "_stop":
                assert json.loads(request.content) == [4001, {"timeout": 1000, "canCallKeepalive": False}]
                if not self.ignore_stop:
                    del self.instances[inst]
                return httpx2.Response(200, json={"opStatus": "OK"})
            if parts[2] == "_kill":
                del self.instances[inst]
                return httpx2.Response(202, json={"opStatus": "Accepted"})
        return httpx2.Response(404)

    def _id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}-{self.count}"

    def _view(self, seq_id: str) -> dict[str, Any]:
        running = [i for i, v in self.instances.items() if v["sequence"] == seq_id]
        return {
            "id": seq_id,
            "config": {"name": self.sequences[seq_id], "version": "1.0.0"},
            "instances": running,
        }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hub() -> OldHub:
    return OldHub()


def provider(hub: OldHub) -> ScramjetProvider:
    clock = FakeClock()
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(hub.handle), base_url="http://hub/api/v1")
    http = ApiClient("scramjet:local", client, sleep=clock.sleep, clock=clock, rng=lambda: 0.0)
    return ScramjetProvider({"local": http}, health_check_s=0.4, sleep=clock.sleep, clock=clock)


def desired(tmp_path: Path, instances: list[dict[str, Any]]) -> tuple[Desired, dict[str, Any]]:
    root = tmp_path / "pkg"
    root.mkdir(exist_ok=True)
    (root / "package.json").write_text(
        json.dumps({"name": "counter", "version": "1.0.0", "main": "index.js"})
    )
    (root / "index.js").write_text("module.exports = 1;\n")
    package = load_package(root)
    attrs = {
        "hub": "local",
        "package": "pkg",
        "instances": instances,
        "package_path": str(root),
        "package_digest": package.digest,
        "package_version": package.version,
    }
    return Desired("sequences", "counter", attrs, attrs), attrs


def test_refresh_reads_each_list_once_and_details_only_where_missing(hub: OldHub) -> None:
    hub.sequences = {"s1": "counter", "s2": "other"}
    hub.instances = {
        "i1": {"sequence": "s1", "sequenceArgs": [1], "appConfig": {"a": 1}},
        "i2": {"sequence": "s1"},
        "i3": {"sequence": "gone-seq"},
    }
    live = LiveState()
    asyncio.run(provider(hub).refresh({"sequences"}, live))
    by_id = live.by_id("sequences")
    assert by_id["local/s1"].attrs["instances"] == [
        {"args": [1], "app_config": {"a": 1}},
        {"args": [], "app_config": {}},
    ]
    assert by_id["local/s1"].key == ("local", "counter") and by_id["local/s2"].attrs["instances"] == []
    assert "package_digest" in by_id["local/s1"].replace_fields  # no PUT: a new package is a replace
    assert sorted(hub.calls) == sorted(
        ["GET /sequences", "GET /instances", "GET /version", "GET /instance/i1", "GET /instance/i2"]
    )  # fmt: skip


def test_duplicates_of_a_declared_name_are_an_error_naming_the_ids(hub: OldHub, tmp_path: Path) -> None:
    hub.sequences = {"s1": "counter", "s2": "counter"}
    live = LiveState()
    asyncio.run(provider(hub).refresh({"sequences"}, live))
    res, _ = desired(tmp_path, [])
    with pytest.raises(PlanError, match="local/s1, local/s2"):
        plan([res], live, StateSnapshot())


def test_a_lost_upload_response_never_uploads_twice(hub: OldHub, tmp_path: Path) -> None:
    hub.lose_next_upload = True
    res, attrs = desired(tmp_path, [{"args": [5]}])
    obj = asyncio.run(provider(hub).create(res, attrs))
    assert list(hub.sequences.values()) == ["counter"] and hub.calls.count("POST /sequence") == 1
    assert obj.remote_id == f"local/{next(iter(hub.sequences))}"
    assert obj.attrs["instances"] == [{"args": [5], "app_config": {}}]


def test_create_refuses_a_name_that_appeared_since_the_plan(hub: OldHub, tmp_path: Path) -> None:
    hub.sequences = {"s9": "counter"}
    res, attrs = desired(tmp_path, [])
    with pytest.raises(ProviderError, match=r"already has a sequence named 'counter' \(s9\)"):
        asyncio.run(provider(hub).create(res, attrs))
    assert hub.calls.count("POST /sequence") == 0


def test_a_package_changed_since_the_plan_is_refused(hub: OldHub, tmp_path: Path) -> None:
    res, attrs = desired(tmp_path, [])
    (Path(attrs["package_path"]) / "index.js").write_text("changed")
    with pytest.raises(ProviderError, match="changed since the plan"):
        asyncio.run(provider(hub).create(res, attrs))


def test_scaling_and_delete_stop_then_kill_and_never_hit_409(hub: OldHub, tmp_path: Path) -> None:
    hub.sequences = {"s1": "counter"}
    hub.instances = {
        "i1": {"sequence": "s1", "sequenceArgs": [1], "appConfig": {}},
        "i2": {"sequence": "s1", "sequenceArgs": [2], "appConfig": {}},
    }
    the_provider = provider(hub)
    live = LiveState()
    asyncio.run(the_provider.refresh({"sequences"}, live))
    obj = live.by_id("sequences")["local/s1"]
    res, attrs = desired(tmp_path, [{"args": [2]}, {"args": [3]}])
    updated = asyncio.run(the_provider.update(res, obj, attrs, {"instances"}))
    assert updated is not None and sorted(v["sequenceArgs"] for v in hub.instances.values()) == [[2], [3]]
    assert "POST /instance/i1/_stop" in hub.calls and "POST /instance/i2/_stop" not in hub.calls

    hub.ignore_stop = True  # an instance that does not end on _stop is killed
    asyncio.run(the_provider.delete("sequences", updated))
    assert hub.sequences == {} and hub.instances == {}
    assert any(c.endswith("/_kill") for c in hub.calls)
    assert not any(c.startswith("DELETE") and c != "DELETE /sequence/s1" for c in hub.calls)


def _stack(url: str, token: str | None = None) -> ScramjetSettings:
    hub = {"url": url, **({"token": token} if token else {})}
    return Providers.model_validate({"scramjet": {"hubs": {"h": hub}}}).scramjet


def test_bearer_token_only_for_cloud_platform_hubs() -> None:
    cloud = "https://api.scramjet.cloud/api/v1/space/s/api/v1/sth/sth-0/api/v1"
    built = build(_stack(cloud), {"SCRAMJET_TOKEN": "tok"}, None)
    assert built.clients["h"].client.headers["authorization"] == "Bearer tok"
    with pytest.raises(ProviderError, match="SCRAMJET_TOKEN"):
        build(_stack(cloud), {}, None)
    local = build(_stack("http://127.0.0.1:8000/api/v1"), {"SCRAMJET_TOKEN": "tok"}, None)
    assert "authorization" not in local.clients["h"].client.headers
    explicit = build(_stack("https://hub.example.com/api/v1", token="own"), {}, None)
    assert explicit.clients["h"].client.headers["authorization"] == "Bearer own"


@pytest.mark.parametrize(
    "version, update_in_place",
    [("0.18.7", False), ("0.28.0", True), ("1.2.3", True), ("dev", False), (None, False)],
)
def test_put_support_is_learned_from_the_version_without_writing(
    hub: OldHub, version: str | None, update_in_place: bool
) -> None:
    hub.version = version
    hub.sequences = {"s1": "counter"}
    live = LiveState()
    asyncio.run(provider(hub).refresh({"sequences"}, live))
    assert ("package_digest" not in live.by_id("sequences")["local/s1"].replace_fields) is update_in_place
    assert all(call.startswith("GET ") for call in hub.calls), hub.calls


def test_a_hub_that_claims_put_but_has_none_falls_back_and_remembers(hub: OldHub, tmp_path: Path) -> None:
    hub.version = "0.28.0"  # says it has PUT; answers 404 with no body like 0.18.7
    hub.sequences = {"s1": "counter"}
    scramjet = provider(hub)
    live = LiveState()
    asyncio.run(scramjet.refresh({"sequences"}, live))
    res, attrs = desired(tmp_path, [])
    obj = asyncio.run(scramjet.update(res, live.by_id("sequences")["local/s1"], attrs, {"package_digest"}))
    assert obj is not None and obj.remote_id != "local/s1" and list(hub.sequences.values()) == ["counter"]
    assert hub.calls.count("PUT /sequence/s1") == 1 and "DELETE /sequence/s1" in hub.calls
    assert scramjet.can_put == {"local": False}
