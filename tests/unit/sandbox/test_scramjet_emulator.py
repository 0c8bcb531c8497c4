"""The Scramjet hub emulator: every route, the documented status codes and bodies, auth, persistence."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox.scramjet import create_app
from reconciler.sandbox.scramjet_package import PackageError, read_package
from tests.support.scramjet_packages import API, JSON, UPLOAD, make_package

STOP_BODY = [4001, {"timeout": 1000, "canCallKeepalive": False}]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def upload(client: TestClient, body: bytes | None = None) -> str:
    resp = client.post(f"{API}/sequence", content=body or make_package(), headers=UPLOAD)
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def start(client: TestClient, seq_id: str, args: list[Any] | None = None, app_config: Any = None) -> str:
    body = {"appConfig": app_config or {}, "args": args or []}
    resp = client.post(f"{API}/sequence/{seq_id}/start", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["opStatus"] == "OK"
    return resp.json()["id"]


def test_version(client: TestClient) -> None:
    assert client.get(f"{API}/version").json() == {
        "service": "@scramjet/host",
        "apiVersion": "v1",
        "version": "0.28.0",
        "build": "sandbox",
    }


def test_upload_then_list_and_get(client: TestClient) -> None:
    seq_id = upload(client, make_package(description="counts", engines={"node": ">=16"}))
    assert uuid.UUID(seq_id).version == 4
    listed = client.get(f"{API}/sequences").json()
    assert [s["id"] for s in listed] == [seq_id]
    got = client.get(f"{API}/sequence/{seq_id}").json()
    assert got == listed[0]
    assert got["instances"] == []
    config = got["config"]
    assert (config["name"], config["version"], config["entrypointPath"]) == ("counter", "1.0.0", "index.js")
    assert config["engines"] == {"node": ">=16"} and config["description"] == "counts"
    assert config["id"] == seq_id


def test_duplicate_name_is_405_and_stores_nothing(client: TestClient) -> None:
    upload(client)
    resp = client.post(f"{API}/sequence", content=make_package(), headers=UPLOAD)
    assert resp.status_code == 405
    assert resp.json() == {"error": "Sequence with name counter already exist"}
    assert len(client.get(f"{API}/sequences").json()) == 1


def test_x_name_header_is_ignored(client: TestClient) -> None:
    seq_id = upload(client)
    headers = {**UPLOAD, "x-name": "alias"}
    resp = client.post(f"{API}/sequence", content=make_package("other"), headers=headers)
    assert resp.status_code == 200
    names = {s["id"]: s["config"]["name"] for s in client.get(f"{API}/sequences").json()}
    assert names == {seq_id: "counter", resp.json()["id"]: "other"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "Empty upload"),
        (b"not a tarball", "Invalid pkg tar.gz archive"),
        (make_package(prefix="counter/"), "package.json not found at the root"),
        (make_package(main="index.js", files={}), 'main file "index.js" is not in the archive'),
        (make_package(main=""), '"main" must be a non-empty string'),
        (make_package(name=""), '"name" must be a non-empty string'),
    ],
)
def test_bad_package_is_422(client: TestClient, body: bytes, fragment: str) -> None:
    resp = client.post(f"{API}/sequence", content=body, headers=UPLOAD)
    assert resp.status_code == 422
    assert fragment in resp.json()["error"]
    assert client.get(f"{API}/sequences").json() == []


def test_package_entry_resolution_follows_node() -> None:
    assert read_package(make_package(main="./lib", files={"lib/index.js": b""})).main == "./lib"
    assert read_package(make_package(main="index", files={"index.js": b""})).main == "index"
    with pytest.raises(PackageError, match="not valid JSON"):
        read_package(make_package(files={"package.json": b"{", "index.js": b""}))


def test_put_replaces_in_place_by_id_or_name(client: TestClient) -> None:
    seq_id = upload(client)
    resp = client.put(f"{API}/sequence/{seq_id}", content=make_package(version="2.0.0"), headers=UPLOAD)
    assert resp.status_code == 200 and resp.json() == {"id": seq_id}
    assert client.get(f"{API}/sequence/{seq_id}").json()["config"]["version"] == "2.0.0"
    resp = client.put(f"{API}/sequence/counter", content=make_package(version="3.0.0"), headers=UPLOAD)
    assert resp.json() == {"id": seq_id}
    assert [s["config"]["version"] for s in client.get(f"{API}/sequences").json()] == ["3.0.0"]


def test_put_errors(client: TestClient) -> None:
    seq_id = upload(client)
    upload(client, make_package("taken"))
    resp = client.put(f"{API}/sequence/nope", content=make_package(), headers=UPLOAD)
    assert resp.status_code == 404 and resp.json() == {"error": "Sequence with name nope not found"}
    resp = client.put(f"{API}/sequence/{seq_id}", content=b"junk", headers=UPLOAD)
    assert resp.status_code == 422
    resp = client.put(f"{API}/sequence/{seq_id}", content=make_package("taken"), headers=UPLOAD)
    assert resp.status_code == 409 and "already exists" in resp.json()["error"]
    start(client, seq_id)
    resp = client.put(f"{API}/sequence/{seq_id}", content=make_package(version="2"), headers=UPLOAD)
    assert resp.status_code == 409 and resp.json()["opStatus"] == "Conflict"


def test_start_and_instances(client: TestClient) -> None:
    seq_id = upload(client)
    first = start(client, seq_id, [10], {"greeting": "hi"})
    second = start(client, seq_id, [20])
    listed = {i["id"]: i for i in client.get(f"{API}/instances").json()}
    assert set(listed) == {first, second}
    one = listed[first]
    assert (one["sequence"], one["appConfig"], one["sequenceArgs"], one["status"]) == (
        seq_id,
        {"greeting": "hi"},
        [10],
        "running",
    )
    assert one["created"].endswith("Z") and one["started"]
    assert client.get(f"{API}/instance/{second}").json()["sequenceArgs"] == [20]
    assert client.get(f"{API}/instance/{first}/health").json() == {"healthy": True}
    assert sorted(client.get(f"{API}/sequence/{seq_id}").json()["instances"]) == sorted([first, second])
    assert sorted(client.get(f"{API}/sequence/{seq_id}/instances").json()) == sorted([first, second])


def test_start_message_and_empty_body(client: TestClient) -> None:
    seq_id = upload(client)
    resp = client.post(f"{API}/sequence/{seq_id}/start", headers=JSON)
    assert resp.status_code == 200
    assert resp.json()["message"] == f"Sequence {seq_id} starting"
    inst = client.get(f"{API}/instance/{resp.json()['id']}").json()
    assert (inst["appConfig"], inst["sequenceArgs"]) == ({}, [])


@pytest.mark.parametrize("body", [b"[1]", b'{"args": 5}', b'{"appConfig": []}', b"{nope"])
def test_start_rejects_bad_bodies(client: TestClient, body: bytes) -> None:
    seq_id = upload(client)
    resp = client.post(f"{API}/sequence/{seq_id}/start", content=body, headers=JSON)
    assert resp.status_code == 400
    assert client.get(f"{API}/instances").json() == []


def test_stop_with_array_body_then_gone(client: TestClient) -> None:
    seq_id = upload(client)
    inst_id = start(client, seq_id)
    resp = client.post(f"{API}/instance/{inst_id}/_stop", json=STOP_BODY)
    assert resp.status_code == 202
    assert resp.json()["status"] == "stopping" and resp.json()["sequenceInfo"]["id"] == seq_id
    assert client.get(f"{API}/instances").json() == []
    assert client.get(f"{API}/instance/{inst_id}").status_code == 404
    assert client.post(f"{API}/instance/{inst_id}/_stop", json=STOP_BODY).status_code == 404


@pytest.mark.parametrize("body", [{"timeout": 10}, None])
def test_stop_accepts_documented_object_or_no_body(client: TestClient, body: Any) -> None:
    inst_id = start(client, upload(client))
    assert client.post(f"{API}/instance/{inst_id}/_stop", json=body, headers=JSON).status_code == 202


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": "soon"}, "Invalid timeout format"),
        ({"canCallKeepalive": "no"}, "Invalid canCallKeepalive format"),
    ],
)
def test_stop_validates_options(client: TestClient, options: dict[str, Any], message: str) -> None:
    inst_id = start(client, upload(client))
    resp = client.post(f"{API}/instance/{inst_id}/_stop", json=[4001, options])
    assert resp.status_code == 400 and resp.json() == {"error": message}
    assert client.get(f"{API}/instance/{inst_id}/health").status_code == 200


def test_kill(client: TestClient) -> None:
    inst_id = start(client, upload(client))
    resp = client.post(f"{API}/instance/{inst_id}/_kill", json={})
    assert resp.status_code == 202 and resp.json()["status"] == "killing"
    assert client.get(f"{API}/instance/{inst_id}/health").status_code == 404
    assert client.post(f"{API}/instance/{inst_id}/_kill", json={}).status_code == 404


def test_delete_in_use_is_409_then_ok(client: TestClient) -> None:
    seq_id = upload(client)
    inst_id = start(client, seq_id)
    resp = client.delete(f"{API}/sequence/{seq_id}", headers=JSON)
    assert resp.status_code == 409
    assert resp.json() == {"opStatus": "Conflict", "error": "Can't remove sequence in use."}
    client.post(f"{API}/instance/{inst_id}/_stop", json=STOP_BODY)
    resp = client.delete(f"{API}/sequence/{seq_id}", headers=JSON)
    assert resp.status_code == 200 and resp.json() == {"opStatus": "OK", "id": seq_id}
    assert client.get(f"{API}/sequences").json() == []


def test_not_found_shapes(client: TestClient) -> None:
    missing = str(uuid.uuid4())
    resp = client.get(f"{API}/sequence/{missing}")
    assert resp.status_code == 404 and resp.json() == {"error": f"Sequence {missing} not found"}
    resp = client.delete(f"{API}/sequence/{missing}", headers=JSON)
    assert resp.status_code == 404 and resp.json()["opStatus"] == "Not Found"
    resp = client.post(f"{API}/sequence/{missing}/start", json={})
    assert resp.status_code == 404 and resp.json()["opStatus"] == "Not Found"
    assert client.get(f"{API}/sequence/{missing}/instances").status_code == 404
    for path in (f"/instance/{missing}", f"/instance/{missing}/health"):
        resp = client.get(API + path)
        assert resp.status_code == 404 and resp.json() == {"error": f"Instance {missing} not found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/config"), ("GET", "/nope"), ("PATCH", "/sequences"), ("GET", "/sequence"), ("GET", "/")],
)
def test_unknown_route_is_empty_404(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, API + path, headers=JSON)
    assert resp.status_code == 404
    assert resp.content == b""


def test_content_type_rules(client: TestClient) -> None:
    seq_id = upload(client)
    invalid = {"error": "Invalid content-type"}
    # POST and DELETE need a JSON content type even without a body.
    start_url = f"{API}/sequence/{seq_id}/start"
    assert client.post(start_url).json() == invalid
    assert client.post(start_url, headers={"content-type": "text/plain"}).status_code == 400
    assert client.delete(f"{API}/sequence/{seq_id}").status_code == 400
    assert client.post(start_url, headers={"content-type": "text/json"}).status_code == 200
    # An upload must not claim to be JSON; a GET must accept JSON.
    resp = client.post(f"{API}/sequence", content=make_package("x"), headers=JSON)
    assert resp.status_code == 400 and resp.json() == invalid
    assert client.get(f"{API}/sequences", headers={"accept": "text/html"}).status_code == 400
    assert client.get(f"{API}/sequences", headers={"accept": "application/*"}).status_code == 200
    assert len(client.get(f"{API}/sequences").json()) == 1


def test_token_auth() -> None:
    with TestClient(create_app(token="s3cret")) as c:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            resp = c.get(f"{API}/version", headers=headers)
            assert resp.status_code == 403 and resp.json() == {"message": "Forbidden"}
        resp = c.post(f"{API}/sequence", content=make_package(), headers=UPLOAD)
        assert resp.status_code == 403
        auth = {"authorization": "Bearer s3cret"}
        assert c.get(f"{API}/version", headers=auth).status_code == 200
        resp = c.post(f"{API}/sequence", content=make_package(), headers={**UPLOAD, **auth})
        assert resp.status_code == 200


def test_no_auth_without_token(client: TestClient) -> None:
    assert client.get(f"{API}/version", headers={"authorization": "Bearer anything"}).status_code == 200


def test_crash_marker_instance_vanishes_with_a_log_line() -> None:
    client = TestClient(create_app(endless_streams=False))  # TestClient waits for a whole answer
    seq_id = upload(client, make_package("crasher", scramjet={"sandbox": {"crash": True}}))
    inst_id = start(client, seq_id)
    assert client.get(f"{API}/instance/{inst_id}").status_code == 404
    assert client.get(f"{API}/instance/{inst_id}/health").status_code == 404
    assert client.get(f"{API}/instances").json() == []
    resp = client.get(f"{API}/log")
    assert resp.headers["content-type"] == "application/octet-stream"
    errors = [line for line in map(json.loads, resp.text.splitlines()) if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert (errors[0]["instance"], errors[0]["sequence"]) == (inst_id, seq_id)
    assert "crashed while loading" in errors[0]["error"]
    # Nothing runs, so the sequence can be deleted straight away.
    assert client.delete(f"{API}/sequence/{seq_id}", headers=JSON).status_code == 200


def test_crash_packages_option() -> None:
    with TestClient(create_app(crash_packages={"counter"})) as c:
        inst_id = start(c, upload(c))
        assert c.get(f"{API}/instance/{inst_id}/health").status_code == 404


def test_sequences_persist_instances_do_not(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path)) as c:
        kept = upload(c, make_package("kept"))
        gone = upload(c, make_package("gone"))
        start(c, kept)
        c.delete(f"{API}/sequence/{gone}", headers=JSON)
    assert (tmp_path / "scramjet.json").is_file()
    assert [p.name for p in (tmp_path / "scramjet-packages").iterdir()] == [f"{kept}.tar.gz"]
    assert (tmp_path / "scramjet-packages" / f"{kept}.tar.gz").read_bytes() == make_package("kept")
    with TestClient(create_app(tmp_path)) as c:
        sequences = c.get(f"{API}/sequences").json()
        assert [(s["id"], s["config"]["name"], s["instances"]) for s in sequences] == [(kept, "kept", [])]
        assert c.get(f"{API}/instances").json() == []
        # The persisted name still blocks a duplicate upload.
        assert c.post(f"{API}/sequence", content=make_package("kept"), headers=UPLOAD).status_code == 405


def test_separate_names_do_not_share_data(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path, name="hub-a")) as a:
        upload(a)
    with TestClient(create_app(tmp_path, name="hub-b", version="0.18.7")) as b:
        assert b.get(f"{API}/sequences").json() == []
        assert b.get(f"{API}/version").json()["version"] == "0.18.7"
