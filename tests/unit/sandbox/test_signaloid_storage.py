"""The Signaloid emulator's cloud storage answers as the seed describes (signaloid_storage.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox.signaloid import create_app

KEY = {"Authorization": "scce_test_key"}


def client(data_dir: Path | None = None, **kwargs: Any) -> TestClient:
    return TestClient(create_app(data_dir, **kwargs), headers=KEY)


def etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def upload(api: TestClient, path: str, data: bytes) -> Any:
    """The two steps: ask for an upload URL, then PUT the bytes there without credentials."""
    answer = api.put(f"/files/{path}", params={"size": len(data)})
    assert answer.status_code == 200, answer.text
    return bare_put(api, answer.json()["upload_url"], data)


def bare_put(api: TestClient, url: str, data: bytes, **headers: str) -> Any:
    """A PUT to ``url`` through ``api``'s app, without ``api``'s own key header."""
    bare = TestClient(api.app)
    return bare.put(url, content=data, headers={"Content-Type": "application/octet-stream", **headers})


def upload_url(api: TestClient, path: str, size: int) -> str:
    return str(api.put(f"/files/{path}", params={"size": size}).json()["upload_url"])


def listing(api: TestClient, folder: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"path": folder} if folder else {}
    while True:
        body = api.get("/files", params=params).json()
        assert body["count"] == len(body["items"])
        items.extend(body["items"])
        if "nextContinuationToken" not in body:
            return items
        params["startKey"] = body["nextContinuationToken"]


def test_two_step_upload_stores_the_bytes_under_a_quoted_md5_etag() -> None:
    api = client()
    url = upload_url(api, "inputs/a.csv", 6)
    parts = urlsplit(url)
    assert parts.path.startswith("/_storage/upload/") and "X-Signature=" in parts.query
    assert bare_put(api, url, b"alpha\n").status_code == 200
    (item,) = [i for i in listing(api) if i["path"] == "inputs/a.csv"]
    assert item["etag"] == etag(b"alpha\n") == '"9f9f90dbe3e5ee1218c86b8839db1995"'
    assert item["size"] == 6 and isinstance(item["last_modified"], int)
    assert api.get("/files/inputs/a.csv", params={"download": "true"}).content == b"alpha\n"
    assert api.get("/files/inputs/a.csv").json()["items"] == [item]


def test_the_upload_url_refuses_any_credentials_and_counts_them() -> None:
    api = client(api_key="scce_test_key")
    url = upload_url(api, "a.csv", 3)
    assert bare_put(api, url, b"abc", Authorization="scce_test_key").status_code == 403
    assert bare_put(api, url, b"abc", Authorization="anything").status_code == 403
    assert bare_put(api, url, b"abc", **{"X-Api-Key": "scce_test_key"}).status_code == 403
    assert not [i for i in listing(api) if i["path"] == "a.csv"]
    assert api.get("/_storage/stats").json()["key_sent_to_upload_url"] == 3
    assert bare_put(api, url, b"abc").status_code == 200


def test_the_upload_url_checks_signature_expiry_and_size() -> None:
    api = client()
    url = upload_url(api, "a.csv", 3)
    assert bare_put(api, url.replace("X-Signature=", "X-Signature=0"), b"abc").status_code == 403
    assert bare_put(api, url.split("?")[0], b"abc").status_code == 403
    assert bare_put(api, url, b"abcd").status_code == 400
    assert bare_put(api, url, b"ab").status_code == 400
    assert api.get("/files/a.csv").status_code == 404


@pytest.mark.parametrize(
    ("params", "why"),
    [({}, "size"), ({"size": "-1"}, "size"), ({"size": "x"}, "size"), ({"size": str(2**40)}, "larger")],
)
def test_an_upload_needs_a_size(params: dict[str, str], why: str) -> None:
    answer = client().put("/files/a.csv", params=params)
    assert answer.status_code == 400 and why in answer.json()["message"]


@pytest.mark.parametrize("path", ["/abs.csv", "a//b.csv", "dir/", "a\\b", "a/%2E%2E/b"])
def test_bad_paths_are_400(path: str) -> None:
    answer = client().put("/files/" + path, params={"size": 1})
    assert answer.status_code == 400, answer.text


def test_listing_pages_with_next_continuation_token_and_lists_directories_with_a_slash() -> None:
    api = client(page_size=2)
    assert api.put("/files/inputs/sub", params={"directory": "true"}).status_code == 200
    for name in ("a", "b", "c"):
        upload(api, f"inputs/{name}.csv", name.encode())
    upload(api, "other/x.csv", b"x")
    first = api.get("/files", params={"path": "inputs/"}).json()
    assert first["count"] == 2 and "nextContinuationToken" in first
    items = listing(api, "inputs/")
    assert [i["path"] for i in items] == ["inputs/a.csv", "inputs/b.csv", "inputs/c.csv", "inputs/sub/"]
    directory = items[-1]
    assert directory["size"] == 0 and directory["etag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    root = listing(api)
    assert root[0]["path"] == "" and {i["path"] for i in root} >= {"inputs/a.csv", "other/x.csv"}
    assert api.get("/files", params={"startKey": "not-a-token!"}).status_code == 400


def test_delete_file_directory_and_recursive() -> None:
    api = client()
    upload(api, "d/a.csv", b"a")
    upload(api, "d/e/b.csv", b"b")
    assert api.delete("/files/d/a.csv").json() == {"message": "OK"}
    assert api.delete("/files/d/a.csv").status_code == 404
    assert api.delete("/files/d", params={"recursive": "true"}).status_code == 400  # needs directory=true
    assert api.delete("/files/d").status_code == 400  # a directory, not a file
    assert api.delete("/files/d", params={"directory": "true"}).status_code == 400  # not empty
    assert api.delete("/files/d", params={"directory": "true", "recursive": "true"}).status_code == 200
    assert not [i for i in listing(api) if i["path"].startswith("d/")]
    assert api.delete("/files/d", params={"directory": "true"}).status_code == 404


def test_each_key_has_its_own_storage() -> None:
    api = client()
    upload(api, "a.csv", b"a")
    other = TestClient(api.app, headers={"Authorization": "scce_other"})
    assert [i["path"] for i in listing(other)] == [""]
    assert api.get("/files").status_code == 200
    assert TestClient(api.app).get("/files").status_code == 401


def test_storage_survives_a_restart(tmp_path: Path) -> None:
    upload(client(tmp_path), "a.csv", b"persisted")
    again = client(tmp_path)
    assert again.get("/files/a.csv", params={"download": "true"}).content == b"persisted"


def test_fault_403_refuses_the_next_upload_and_stores_nothing() -> None:
    api = client(upload_fault="403", upload_fault_count=1)
    url = upload_url(api, "a.csv", 1)
    assert bare_put(api, url, b"a").status_code == 403
    assert api.get("/files/a.csv").status_code == 404
    assert bare_put(api, url, b"a").status_code == 200


def test_fault_timeout_stores_then_hangs() -> None:
    api = client(upload_fault="timeout", upload_hang_s=0.01)
    assert bare_put(api, upload_url(api, "a.csv", 1), b"a").status_code == 200
    assert api.get("/files/a.csv").status_code == 200


def test_fault_timeout_before_hangs_without_storing() -> None:
    api = client(upload_fault="timeout-before", upload_hang_s=0.01)
    assert bare_put(api, upload_url(api, "a.csv", 1), b"a").status_code == 504
    assert api.get("/files/a.csv").status_code == 404
