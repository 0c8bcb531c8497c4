"""The real Transform Hub 0.18.7 harness works, and the hub's observed quirks still hold.

These tests talk to the hub with plain httpx2, no provider code: they pin what the Scramjet provider
must cope with (duplicate names, no PUT, the array body of ``_stop``, crash-at-load instances that
vanish) and check that stopping a ``RealHub`` leaves no hub or runner process behind.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.polling import wait_until
from tests.support.scramjet_hub import RealHub, group_alive, pack_directory, require_hub

pytestmark = pytest.mark.hub

COUNTER = Path(__file__).resolve().parents[1] / "support" / "sequences" / "counter"
JSON = {"content-type": "application/json"}
UPLOAD = {"content-type": "application/octet-stream"}
STOP_BODY = [4001, {"timeout": 1000, "canCallKeepalive": False}]


def _group_commands(pgid: int) -> list[str]:
    """Command lines of the live processes in a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(cmdline)
    return found


@pytest.fixture
def hub() -> Iterator[RealHub]:
    require_hub()
    real = RealHub()
    with real:
        yield real
    assert real.pgid is not None and not group_alive(real.pgid), "hub or runner processes survived stop()"


@pytest.fixture
def api(hub: RealHub) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=hub.url, timeout=15.0) as client:
        yield client


def upload(api: httpx2.Client, body: bytes) -> str:
    resp = api.post("/sequence", content=body, headers=UPLOAD)
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def start(api: httpx2.Client, seq_id: str, args: list[Any], app_config: dict[str, Any] | None = None) -> str:
    resp = api.post(f"/sequence/{seq_id}/start", json={"appConfig": app_config or {}, "args": args})
    assert resp.status_code == 200, resp.text
    assert resp.json()["opStatus"] == "OK"
    return resp.json()["id"]


def package(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def instance_ids(api: httpx2.Client) -> set[str]:
    return {i["id"] for i in api.get("/instances").json()}


def test_version_and_unknown_routes(api: httpx2.Client) -> None:
    assert api.get("/version").json() == {"version": "0.18.7"}
    for path in ("/config", "/no-such-route"):
        resp = api.get(path)
        assert resp.status_code == 404 and resp.content == b""


def test_counter_instances_run_stop_and_delete(hub: RealHub, api: httpx2.Client) -> None:
    seq_id = upload(api, pack_directory(COUNTER))
    first = start(api, seq_id, [10], {"greeting": "hi"})
    second = start(api, seq_id, [20])

    # The counter keeps running: healthy now and still healthy a couple of seconds later.
    for inst in (first, second):

        def healthy(i: str = inst) -> bool:
            return api.get(f"/instance/{i}/health").json().get("healthy") is True

        wait_until(healthy, "health", timeout=10.0)
    time.sleep(2)
    assert instance_ids(api) == {first, second}
    assert all(api.get(f"/instance/{i}/health").json()["healthy"] for i in (first, second))
    runners = [c for c in _group_commands(hub.pgid or 0) if "start-runner" in c]
    assert len(runners) == 2, "runner processes must live in the hub's process group"

    # 0.18.7's list has only {id, sequence}; details (no status) come from GET /instance/:id.
    assert all(set(i) == {"id", "sequence"} for i in api.get("/instances").json())
    detail = api.get(f"/instance/{first}").json()
    assert (detail["sequence"], detail["sequenceArgs"]) == (seq_id, [10])
    assert detail["appConfig"] == {"greeting": "hi"}
    assert "status" not in detail
    (seq,) = api.get("/sequences").json()
    assert (seq["config"]["name"], seq["config"]["entrypointPath"]) == ("reconciler-test-counter", "index.js")
    assert sorted(seq["instances"]) == sorted([first, second])

    resp = api.delete(f"/sequence/{seq_id}", headers=JSON)
    assert resp.status_code == 409
    assert resp.json() == {"opStatus": "Conflict", "error": "Can't remove sequence in use."}

    # _stop wants the array body and holds the answer for about `timeout` ms; it answers 200, not 202.
    began = time.monotonic()
    resp = api.post(f"/instance/{first}/_stop", json=STOP_BODY)
    assert (resp.status_code, resp.json()) == (200, {"opStatus": "OK"})
    assert time.monotonic() - began >= 0.9
    wait_until(
        lambda: instance_ids(api) == {second}, "the stopped instance to leave /instances", timeout=10.0
    )
    assert api.get(f"/instance/{first}").status_code == 404

    resp = api.post(f"/instance/{second}/_kill", json={})
    assert (resp.status_code, resp.json()) == (202, {"opStatus": "Accepted"})
    wait_until(lambda: not instance_ids(api), "the killed instance to leave /instances", timeout=10.0)

    resp = api.delete(f"/sequence/{seq_id}", headers=JSON)
    assert (resp.status_code, resp.json()) == (200, {"opStatus": "OK", "id": seq_id})
    resp = api.delete(f"/sequence/{seq_id}", headers=JSON)
    assert (resp.status_code, resp.json()) == (404, {"opStatus": "Not Found"})
    assert api.get("/sequences").json() == []


def test_quirks_the_provider_must_handle(api: httpx2.Client) -> None:
    body = pack_directory(COUNTER)
    first = upload(api, body)
    # The same name again is not a conflict: a second copy with a new id, and x-name is ignored.
    second = api.post("/sequence", content=body, headers={**UPLOAD, "x-name": "alias"}).json()["id"]
    assert first != second
    names = sorted((s["id"], s["config"]["name"]) for s in api.get("/sequences").json())
    assert names == sorted([(first, "reconciler-test-counter"), (second, "reconciler-test-counter")])

    assert api.put(f"/sequence/{first}", content=body, headers=UPLOAD).status_code == 404  # no PUT
    resp = api.get("/sequence/reconciler-test-counter")  # by id only
    assert (resp.status_code, resp.json()) == (404, {})
    assert api.post(f"/sequence/{first}/start").status_code == 400  # no content-type
    assert api.delete(f"/sequence/{first}").status_code == 400
    assert api.post("/sequence", content=body, headers=JSON).status_code == 400
    assert api.get("/sequences", headers={"accept": "text/html"}).status_code == 400

    inst = start(api, first, [1])
    assert api.post(f"/instance/{inst}/_stop", json={"timeout": 1000}).status_code == 500  # object body
    assert inst in instance_ids(api)
    assert api.post(f"/instance/{inst}/_kill", json={}).status_code == 202


def test_bad_packages(api: httpx2.Client) -> None:
    manifest = json.dumps({"name": "nested", "version": "1.0.0", "main": "index.js"})
    resp = api.post(
        "/sequence", content=package({"nested/package.json": manifest, "nested/index.js": ""}), headers=UPLOAD
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "ENOENT"
    resp = api.post("/sequence", content=b"not a tarball", headers=UPLOAD)
    assert resp.status_code == 422
    resp = api.post("/sequence", content=package({"package.json": '{"name": "nomain"}'}), headers=UPLOAD)
    assert resp.status_code == 422 and '"main"' in resp.json()["error"]
    # A missing entry file is NOT caught at upload by 0.18.7 (the emulator answers 422 here).
    no_entry = package({"package.json": json.dumps({"name": "noentry", "main": "gone.js"})})
    assert api.post("/sequence", content=no_entry, headers=UPLOAD).status_code == 200
    assert [s["config"]["name"] for s in api.get("/sequences").json()] == ["noentry"]


def test_sequence_crashing_at_load_vanishes(hub: RealHub, api: httpx2.Client) -> None:
    manifest = json.dumps({"name": "crasher", "version": "1.0.0", "main": "index.js"})
    seq_id = upload(api, package({"package.json": manifest, "index.js": 'throw new Error("boom");\n'}))
    inst = start(api, seq_id, [])  # 200 although the runner is about to fail
    wait_until(
        lambda: api.get(f"/instance/{inst}/health").status_code == 404, "the crash to end it", timeout=10.0
    )
    assert api.get(f"/instance/{inst}").status_code == 404
    assert inst not in instance_ids(api)
    # The hub log names the instance and the runner's exit code (21: the sequence failed to load).
    wait_until(
        lambda: "Sequence finished with error [ 21 ]" in hub.log_text(),
        "the crash in the hub log",
        timeout=10.0,
    )
    assert inst in hub.log_text()
    assert api.delete(f"/sequence/{seq_id}", headers=JSON).status_code == 200


def test_restart_keeps_sequences_not_instances(tmp_path: Path) -> None:
    require_hub()
    root = tmp_path / "sequences"
    with RealHub(root) as first_hub, httpx2.Client(base_url=first_hub.url, timeout=15.0) as api:
        seq_id = upload(api, pack_directory(COUNTER))
        inst = start(api, seq_id, [1])
        wait_until(
            lambda: api.get(f"/instance/{inst}/health").status_code == 200,
            "the instance to run",
            timeout=10.0,
        )
    assert first_hub.pgid is not None and not group_alive(first_hub.pgid)
    with RealHub(root) as second_hub, httpx2.Client(base_url=second_hub.url, timeout=15.0) as api:
        (seq,) = api.get("/sequences").json()
        assert (seq["id"], seq["instances"]) == (seq_id, [])
        assert api.get("/instances").json() == []
    assert second_hub.pgid is not None and not group_alive(second_hub.pgid)
