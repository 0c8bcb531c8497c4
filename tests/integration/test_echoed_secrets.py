"""Nothing a server echoes is printed raw (issue 28): a webhook receiver and an API that answer an
error by echoing the request (its ``Authorization`` header, the URL with its userinfo and query)
and a megabyte of padding: what is shown is a bounded excerpt with none of the credentials."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reconciler.app.fleet.model import fleet_report, stack_result
from tests.support.cli import CliResult
from tests.support.fleet import change, plan_doc
from tests.support.servers import serve_app

USER, PASSWORD, PATH_TOKEN, QUERY_TOKEN = "hookuser", "pa55-w0rd-xyz", "T0KEN-in-path-123", "q-t0ken-456"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def echo_app(shape: str) -> Starlette:
    async def echo(request: Request) -> Response:
        seen: dict[str, Any] = {
            "headers": dict(request.headers),
            "url": str(request.url),
            "pad": "x" * 1_000_000,
        }
        if shape == "json-message":
            return JSONResponse({"message": f"bad request {json.dumps(seen)}"}, status_code=400)
        if shape == "json":
            return JSONResponse(seen, status_code=400)
        lines = [f"{k}: {v}" for k, v in sorted(request.headers.items())]  # authorization first
        return PlainTextResponse("\n".join(["\x1b[2J", *lines, f"POST {request.url}", seen["pad"]]), 400)

    return Starlette(routes=[Route("/hook/{token}", echo, methods=["POST"])])


def report_file(tmp_path: Path) -> Path:
    stack = stack_result(
        "fleet/a",
        plan_doc(change("cores.x", precision=(1, 2))),
        checked_at="2026-01-02T03:04:05Z",
        duration_s=0.1,
        http={},
    )
    path = tmp_path / "report.json"
    path.write_text(json.dumps(fleet_report([stack], generated_at="2026-01-02T03:04:05Z", duration_s=1)))
    return path


@pytest.mark.parametrize("shape", ["json-message", "json", "text"])
@pytest.mark.parametrize("debug", [False, True])
def test_a_receiver_echoing_the_request_has_nothing_of_it_printed(
    shape: str, debug: bool, tmp_path: Path, run_cli_process: Callable[..., CliResult]
) -> None:
    with serve_app(echo_app(shape)) as base:
        host = base.removeprefix("http://")
        url = f"http://{USER}:{PASSWORD}@{host}/hook/{PATH_TOKEN}?token={QUERY_TOKEN}"
        args = ["--debug"] if debug else []
        result = run_cli_process(
            *args, "report", "merge", report_file(tmp_path), "--format", "json", "--notify", url
        )
    assert result.exit_code == 1, result
    for secret in (PASSWORD, BASIC, PATH_TOKEN, QUERY_TOKEN):
        assert secret not in result.stderr, (secret, result.stderr[-2000:])
    # The error itself, not the source lines of a --debug traceback (Python 3.13 shows whole statements).
    (error,) = [
        line for line in result.stderr.splitlines() if "could not send" in line and "HTTP 400" in line
    ]
    assert "could not send the drift report to http://127.0.0.1" in error and "HTTP 400" in error
    assert len(error) < 500, error  # an excerpt, not a megabyte (--debug's traceback: the same line)
    assert "\x1b" not in result.stderr
