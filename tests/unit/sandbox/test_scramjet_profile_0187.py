"""The Scramjet emulator's ``hub-0.18.7`` profile: what the real Transform Hub 0.18.7 answers
(its own code, ``@scramjet/host`` 0.18.7, and what was observed of it), where the documented API differs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox import scramjet
from reconciler.sandbox.scramjet import create_app
from tests.support.scramjet_packages import API, JSON, UPLOAD, make_package

GONE = "0" * 8 + "-0000-4000-8000-" + "0" * 12


@pytest.fixture
def hub() -> Iterator[TestClient]:
    with TestClient(create_app(profile="hub-0.18.7")) as c:
        yield c


def upload(hub: TestClient, name: str = "counter") -> str:
    resp = hub.post(f"{API}/sequence", content=make_package(name), headers=UPLOAD)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def start(hub: TestClient, seq_id: str, body: object) -> str:
    resp = hub.post(f"{API}/sequence/{seq_id}/start", json=body)
    assert resp.status_code == 200 and set(resp.json()) == {"opStatus", "id"}, resp.text
    return str(resp.json()["id"])


def test_version_load_check_topics(hub: TestClient) -> None:
    assert hub.get(f"{API}/version").json() == {"version": "0.18.7"}
    load = hub.get(f"{API}/load-check").json()
    assert set(load) == {"avgLoad", "currentLoad", "memFree", "memUsed", "fsSize"}
    assert load["memFree"] > 0 and load["fsSize"][0]["size"] >= load["fsSize"][0]["used"]
    assert set(load["fsSize"][0]) == {"fs", "type", "size", "used", "available", "use", "mount", "rw"}
    assert isinstance(load["fsSize"][0]["rw"], bool)
    assert hub.get(f"{API}/topics").json() == []


def test_documented_profile_has_the_same_hub_reports() -> None:
    with TestClient(create_app()) as documented:
        assert set(documented.get(f"{API}/version").json()) == {"service", "apiVersion", "version", "build"}
        assert "fsSize" in documented.get(f"{API}/load-check").json()
        assert documented.get(f"{API}/topics").json() == []


def test_no_put_and_duplicate_names_get_new_ids(hub: TestClient) -> None:
    first = upload(hub)
    resp = hub.put(f"{API}/sequence/{first}", content=make_package(), headers=UPLOAD)
    assert (resp.status_code, resp.content) == (404, b"")
    second = upload(hub)
    assert second != first
    names = [s["config"]["name"] for s in hub.get(f"{API}/sequences").json()]
    assert names == ["counter", "counter"]


def test_not_found_and_error_bodies(hub: TestClient) -> None:
    assert (hub.get(f"{API}/sequence/counter").status_code, hub.get(f"{API}/sequence/x").json()) == (404, {})
    resp = hub.request("DELETE", f"{API}/sequence/{GONE}", headers=JSON)
    assert (resp.status_code, resp.json()) == (404, {"opStatus": "Not Found"})
    resp = hub.post(f"{API}/sequence/{GONE}/start", json={})
    assert (resp.status_code, resp.json()) == (404, {"opStatus": "Not Found"})
    assert hub.get(f"{API}/sequence/{GONE}/instances").status_code == 500  # 0.18.7 cannot serialise it
    for path in ("", "/health"):
        resp = hub.get(f"{API}/instance/{GONE}{path}")
        assert (resp.status_code, resp.content) == (404, b"")
    resp = hub.post(f"{API}/sequence", content=b"not a tarball", headers=UPLOAD)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "PRERUNNER_ERROR"
    resp = hub.request("DELETE", f"{API}/sequence/{GONE}")  # no content type
    assert (resp.status_code, resp.content) == (400, b"")


def test_thin_instances_and_health_with_process_id(hub: TestClient) -> None:
    seq_id = upload(hub)
    inst = start(hub, seq_id, {"appConfig": {"a": 1}, "args": [1]})
    bare = start(hub, seq_id, {"args": "notalist"})  # 0.18.7 takes it as given
    listed = hub.get(f"{API}/instances").json()
    assert sorted(listed, key=lambda i: i["id"]) == sorted(
        [{"id": inst, "sequence": seq_id}, {"id": bare, "sequence": seq_id}], key=lambda i: i["id"]
    )
    detail = hub.get(f"{API}/instance/{inst}").json()
    assert set(detail) == {"id", "sequence", "created", "started", "appConfig", "sequenceArgs"}
    assert (detail["appConfig"], detail["sequenceArgs"]) == ({"a": 1}, [1])
    assert set(hub.get(f"{API}/instance/{bare}").json()) == {
        "id",
        "sequence",
        "created",
        "started",
        "sequenceArgs",
    }
    health = hub.get(f"{API}/instance/{inst}/health").json()
    assert health["healthy"] is True and isinstance(health["processId"], int)


def test_stop_takes_only_the_array_body(hub: TestClient) -> None:
    inst = start(hub, upload(hub), {"appConfig": {}, "args": []})
    for body in (b'{"timeout": 0, "canCallKeepalive": false}', b""):  # the documented object; none
        resp = hub.post(f"{API}/instance/{inst}/_stop", content=body, headers=JSON)
        assert resp.status_code == 500 and resp.text.startswith("Spread syntax requires"), body
    assert hub.get(f"{API}/instance/{inst}").status_code == 200  # still running
    resp = hub.post(f"{API}/instance/{inst}/_stop", json=[4001, {"timeout": 0, "canCallKeepalive": False}])
    assert (resp.status_code, resp.json()) == (200, {"opStatus": "OK"})
    assert hub.get(f"{API}/instances").json() == []


def test_kill_is_accepted_and_the_instance_goes_a_moment_later(
    hub: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scramjet, "KILL_LINGER_S", 0.2)
    seq_id = upload(hub)
    inst = start(hub, seq_id, {})
    resp = hub.request("DELETE", f"{API}/sequence/{seq_id}", headers=JSON)
    assert (resp.status_code, resp.json()["opStatus"]) == (409, "Conflict")
    resp = hub.post(f"{API}/instance/{inst}/_kill", json={})
    assert (resp.status_code, resp.json()) == (202, {"opStatus": "Accepted"})
    # Going, not gone: as on the real hub, until its runner has exited.
    assert hub.get(f"{API}/instance/{inst}").status_code == 200
    again = hub.post(f"{API}/instance/{inst}/_kill", json={})
    assert (again.status_code, again.json()) == (202, {"opStatus": "Accepted"})
    time.sleep(0.3)
    assert hub.get(f"{API}/instance/{inst}").status_code == 404
    resp = hub.request("DELETE", f"{API}/sequence/{seq_id}", headers=JSON)
    assert (resp.status_code, resp.json()) == (200, {"opStatus": "OK", "id": seq_id})


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown Scramjet profile 'hub-0\.9'.*hub-0\.18\.7"):
        create_app(profile="hub-0.9")


def test_cors_on_every_answer_and_options_preflight(hub: TestClient) -> None:
    for resp in (
        hub.get(f"{API}/version"),
        hub.get(f"{API}/no-such-route"),
        hub.get(f"{API}/instance/{GONE}"),
    ):
        assert resp.headers["access-control-allow-origin"] == "*"
    for path in ("/sequences", "/no-such-route", f"/instance/{GONE}/_kill"):
        resp = hub.options(
            f"{API}{path}", headers={"Origin": "http://x", "Access-Control-Request-Method": "GET"}
        )
        assert (resp.status_code, resp.content) == (200, b"")
        assert resp.headers["access-control-allow-methods"] == "DELETE, POST, GET, OPTIONS"
        assert resp.headers["access-control-allow-headers"] == "*"


def test_a_trailing_slash_is_the_same_route_not_a_redirect(hub: TestClient) -> None:
    seq_id = upload(hub)
    for path in ("/sequences/", "/version/", "/instances/", f"/sequence/{seq_id}/"):
        resp = hub.get(f"{API}{path}", follow_redirects=False)
        assert resp.status_code == 200 and resp.json() == hub.get(f"{API}{path.rstrip('/')}").json()


def test_input_is_200_and_event_is_202_accepted(hub: TestClient) -> None:
    inst = start(hub, upload(hub), {})
    resp = hub.post(f"{API}/instance/{inst}/input", content="hello\n", headers={"content-type": "text/plain"})
    assert (resp.status_code, resp.content) == (200, b"")
    event = [5001, {"eventName": "ping", "message": "hi"}]
    resp = hub.post(f"{API}/instance/{inst}/_event", json=event)
    assert (resp.status_code, resp.json()) == (202, {"accepted": True})
    for path in ("input", "_event"):
        assert hub.post(f"{API}/instance/{GONE}/{path}", json=event).status_code == 404
