"""``files`` end to end: the CLI against the served emulator over a loopback socket. Apply, re-plan
empty, edit a file (one update), remove a file from the folder (one delete), an unmanaged file left
alone; the API key never reaches the upload URL; a lost upload answer and a refused upload."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from tests.support.cli import RunCli
from tests.support.sandbox import Sandbox, StartSandbox
from tests.support.signaloid import API_KEY

Scope = MutableMapping[str, Any]
UPLOAD_PATH = "/signaloid/_storage/upload/"


class UploadRecorder:
    """An ASGI layer that keeps, for each request to the upload URL, its headers and query."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[dict[str, str], str]] = []

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(UPLOAD_PATH):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.seen.append((headers, scope.get("query_string", b"").decode("latin-1")))
        await self.app(scope, receive, send)


def write_stack(folder: Path, files: dict[str, Any] | None, timeout_s: float | None = None) -> None:
    doc: dict[str, Any] = {"version": 1}
    if timeout_s is not None:
        doc["providers"] = {"signaloid": {"http": {"timeout_s": timeout_s, "max_retries": 1}}}
    if files is not None:
        doc["files"] = files
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def storage(sandbox: Sandbox) -> dict[str, str]:
    """path -> etag of every file in the sandbox account's storage, through its own API."""
    out: dict[str, str] = {}
    params: dict[str, str] = {}
    with httpx2.Client(headers={"Authorization": API_KEY}) as client:
        while True:
            page = client.get(f"{sandbox.signaloid_url}/files", params=params).json()
            out.update(
                {i["path"]: i["etag"] for i in page["items"] if i["path"] and not i["path"].endswith("/")}
            )
            if "nextContinuationToken" not in page:
                return out
            params = {"startKey": page["nextContinuationToken"]}


def upload_directly(sandbox: Sandbox, path: str, data: bytes) -> None:
    """Someone else's file, put there without reconciler."""
    with httpx2.Client() as client:
        answer = client.put(
            f"{sandbox.signaloid_url}/files/{path}",
            params={"size": len(data)},
            headers={"Authorization": API_KEY},
        )
        assert client.put(answer.json()["upload_url"], content=data).status_code == 200


def etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def upload_stats(sandbox: Sandbox) -> dict[str, int]:
    return dict(httpx2.get(f"{sandbox.signaloid_url}/_storage/stats").json())


def plan_json(run_cli: RunCli, folder: Path) -> dict[str, Any]:
    result = run_cli("plan", "--format", "json", "-f", folder)
    assert result.exit_code == 0, result
    return dict(json.loads(result.stdout))


def changed(doc: dict[str, Any]) -> dict[str, str]:
    return {c["address"]: c["action"] for c in doc["changes"] if c["pending"]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    stack = tmp_path / "stack"
    (stack / "data" / "inputs" / "sub").mkdir(parents=True)
    (stack / "data" / "inputs" / "a.csv").write_bytes(b"alpha\n")
    (stack / "data" / "inputs" / "b.csv").write_bytes(b"beta\n")
    (stack / "data" / "inputs" / "sub" / "c.csd").write_bytes(b"gamma\n" * 1000)
    return stack


FILES = {"model-inputs": {"source": "./data/inputs", "path": "inputs/"}}


def test_apply_replan_edit_remove_and_an_unmanaged_file_left_alone(
    start_sandbox: StartSandbox, run_cli: RunCli, folder: Path
) -> None:
    recorder: list[UploadRecorder] = []

    def wrap(app: Any) -> UploadRecorder:
        recorder.append(UploadRecorder(app))
        return recorder[0]

    sandbox = start_sandbox(wrap=wrap, api_key=API_KEY)
    upload_directly(sandbox, "inputs/theirs.csv", b"not ours")
    write_stack(folder, FILES)

    applied = run_cli("apply", "--auto-approve", "-f", folder)
    assert applied.exit_code == 0, applied
    live = storage(sandbox)
    assert live["inputs/a.csv"] == '"9f9f90dbe3e5ee1218c86b8839db1995"'  # md5 of b"alpha\n"
    assert {"inputs/b.csv", "inputs/sub/c.csd", "inputs/theirs.csv"} <= set(live)

    again = plan_json(run_cli, folder)
    assert changed(again) == {}
    assert [o["remote_id"] for o in again["unmanaged"]] == ["inputs/theirs.csv"]
    assert run_cli("plan", "--detailed-exitcode", "-f", folder).exit_code == 0

    (folder / "data" / "inputs" / "b.csv").write_bytes(b"beta, edited\n")
    assert changed(plan_json(run_cli, folder)) == {"files.model-inputs/b.csv": "update"}
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    assert storage(sandbox)["inputs/b.csv"] == etag(b"beta, edited\n")
    assert changed(plan_json(run_cli, folder)) == {}

    (folder / "data" / "inputs" / "a.csv").unlink()
    assert changed(plan_json(run_cli, folder)) == {"files.model-inputs/a.csv": "delete"}
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    live = storage(sandbox)
    assert "inputs/a.csv" not in live and {"inputs/b.csv", "inputs/theirs.csv"} <= set(live)

    write_stack(folder, None)  # the folder leaves the YAML: exactly the stack's files go
    removed = plan_json(run_cli, folder)
    assert changed(removed) == {
        "files.model-inputs/b.csv": "delete",
        "files.model-inputs/sub/c.csd": "delete",
    }
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    assert storage(sandbox) == {"inputs/theirs.csv": etag(b"not ours")}

    # The API key never reached the upload URL: not in any header, not in the query.
    uploads = recorder[0].seen
    assert len(uploads) == 1 + 3 + 1  # theirs, the first apply's three, the edited one
    for headers, query in uploads:
        assert "authorization" not in headers
        assert all(API_KEY not in value for value in headers.values()) and API_KEY not in query
    assert upload_stats(sandbox)["key_sent_to_upload_url"] == 0


def test_a_lost_upload_answer_is_checked_by_listing_and_not_sent_again(
    start_sandbox: StartSandbox, run_cli: RunCli, folder: Path
) -> None:
    dialect = {"casing": "pascal", "upload_fault": "timeout", "upload_hang_s": 5.0}
    sandbox = start_sandbox(dialects={"signaloid": dialect})
    write_stack(folder, {"one": {"source": "./data/inputs/a.csv", "path": "inputs/a.csv"}}, timeout_s=1.0)
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0, result
    assert storage(sandbox) == {"inputs/a.csv": '"9f9f90dbe3e5ee1218c86b8839db1995"'}
    assert upload_stats(sandbox)["uploads_received"] == 1  # landed; the listing said so


def test_an_upload_that_did_not_land_is_sent_again(
    start_sandbox: StartSandbox, run_cli: RunCli, folder: Path
) -> None:
    dialect = {"casing": "pascal", "upload_fault": "timeout-before", "upload_hang_s": 5.0}
    sandbox = start_sandbox(dialects={"signaloid": dialect})
    write_stack(folder, {"one": {"source": "./data/inputs/a.csv", "path": "inputs/a.csv"}}, timeout_s=1.0)
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0, result
    assert storage(sandbox) == {"inputs/a.csv": '"9f9f90dbe3e5ee1218c86b8839db1995"'}
    assert upload_stats(sandbox)["uploads_received"] == 2


def test_a_403_from_the_upload_url_is_a_clear_error_without_the_signature(
    start_sandbox: StartSandbox, run_cli: RunCli, folder: Path
) -> None:
    sandbox = start_sandbox(dialects={"signaloid": {"casing": "pascal", "upload_fault": "403"}})
    write_stack(folder, {"one": {"source": "./data/inputs/a.csv", "path": "inputs/a.csv"}})
    result = run_cli("apply", "--auto-approve", "--debug", "-f", folder)
    assert result.exit_code == 1, result
    shown = result.stdout + result.stderr
    assert "the upload URL refused data/inputs/a.csv" in shown and "Traceback" not in shown
    assert "X-Signature=" not in shown and API_KEY not in shown
    assert storage(sandbox) == {}
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0  # the fault was one upload
