"""``drift --notify URL``: the report is POSTed to a receiver on a loopback socket; failing to
deliver it is an error; the URL's token is never printed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.cli import RunCli
from tests.support.servers import serve_app
from tests.support.signaloid import CORE, SignaloidApi, StackDir

TOKEN = "T0123/B4567/xoxb-not-a-real-token-89abcdef"


@dataclass
class Receiver:
    url: str
    reports: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver("")

    async def hook(request: Request) -> JSONResponse:
        if request.query_params.get("token") != "abc" or request.path_params["rest"] != TOKEN:
            return JSONResponse({"error": "unknown hook"}, status_code=404)
        if box.status != 200:
            return JSONResponse({"error": f"rejected {TOKEN}"}, status_code=box.status)
        box.reports.append(await request.json())
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/services/{rest:path}", hook, methods=["POST"])])
    with serve_app(app) as base:
        box.url = f"{base}/services/{TOKEN}?token=abc"
        yield box


def test_drift_posts_the_report_and_exit_codes_follow_drift(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, receiver: Receiver
) -> None:
    stack_dir.write(cores={"fast": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0

    in_sync = run_cli("drift", "--format", "json", "--notify", receiver.url, "-f", stack_dir.path)
    assert in_sync.exit_code == 0, in_sync
    (report,) = receiver.reports
    assert report["drifted"] is False and report["format_version"] == "2"
    assert report["generated_at"].endswith("Z") and "in sync" in report["text"]

    core_id = stack_dir.state()["cores.fast"]
    live = api.by_id("cores")[core_id]
    body = {"Name": "fast", **{k: live[k] for k in ("Class", "Microarchitecture", "MemorySize")},
            "CorrelationTracking": live["CorrelationTracking"], "Precision": 512}  # fmt: skip
    assert api.client.patch(f"/cores/{core_id}", json=body).status_code == 200

    drifted = run_cli("drift", "--format", "json", "--notify", receiver.url, "-f", stack_dir.path)
    assert drifted.exit_code == 2, drifted
    report = receiver.reports[-1]
    assert report["drifted"] is True
    (change,) = [c for c in report["changes"] if c["pending"]]
    assert (change["address"], change["cause"]) == ("cores.fast", "drift")
    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [("precision", 512, 128)]
    assert "cores.fast" in report["text"]
    for result in (in_sync, drifted):
        assert TOKEN not in result.output and "token=abc" not in result.output
        assert "Drift report sent to http://127.0.0.1:" in result.stderr


def test_failing_to_notify_is_an_error_that_does_not_show_the_token(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, receiver: Receiver
) -> None:
    stack_dir.write(cores={"fast": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    receiver.status = 403  # not retried: an answer, and a final one

    result = run_cli("drift", "--notify", receiver.url, "-f", stack_dir.path)
    assert result.exit_code == 1, result
    assert "could not send the drift report to http://127.0.0.1:" in result.stderr
    assert "HTTP 403" in result.stderr
    assert TOKEN not in result.output and "xoxb" not in result.output and "token=abc" not in result.output

    wrong_path = receiver.url.replace("/services/", "/nowhere/")
    missing = run_cli("drift", "--notify", wrong_path, "-f", stack_dir.path)
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr and TOKEN not in missing.output


def test_notify_refuses_plain_http_to_a_remote_host(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(cores={"fast": dict(CORE)})
    result = run_cli("drift", "--notify", f"http://hooks.example.com/services/{TOKEN}", "-f", stack_dir.path)
    assert result.exit_code == 1
    assert "not sending the drift report to http://hooks.example.com/…" in result.stderr
    assert TOKEN not in result.output


def test_a_state_only_change_is_reported_as_a_resource_that_differs(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, receiver: Receiver
) -> None:
    """drift --notify with only lifecycle.prevent_destroy turned on: drifted, and the text counts it."""
    stack_dir.write(cores={"fast": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    stack_dir.write(cores={"fast": {**CORE, "lifecycle": {"prevent_destroy": True}}})

    result = run_cli("drift", "--format", "json", "--notify", receiver.url, "-f", stack_dir.path)
    assert result.exit_code == 2, result
    (report,) = receiver.reports
    assert report["drifted"] is True
    assert report["text"] == "reconciler drift: 1 resource differs from the configuration: cores.fast"
