"""The drift report and its delivery, over httpx2.MockTransport with an injected sleep."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx2
import pytest

from reconciler.cli.notify import NotifyError, drift_report, notify, shown_url
from reconciler.engine.deciding.changes import Action, Plan
from tests.support.changes import make_change

URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX?sig=abcdef123456"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "https://hooks.slack.com/…"),
        ("https://user:pa55word@example.com:8443/", "https://example.com:8443"),
        ("http://127.0.0.1:9/x", "http://127.0.0.1:9/…"),
        ("not a url", "?://?/…"),
    ],
)
def test_shown_url_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_drift_report_adds_drifted_time_and_text() -> None:
    doc = Plan((make_change("cores.a", Action.UPDATE), make_change("cores.b", Action.NO_OP))).to_json()
    report = drift_report(doc, drifted=True, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert report["drifted"] is True and report["generated_at"] == "2026-01-02T03:04:05Z"
    assert report["text"] == "reconciler drift: 1 resource differs from the configuration: cores.a"
    assert report["changes"] == doc["changes"]


@pytest.mark.parametrize("action", [Action.ADOPT, Action.MOVE, Action.STATE_ONLY])
def test_drift_report_counts_the_changes_that_only_write_state(action: Action) -> None:
    doc = Plan((make_change("cores.a", action),)).to_json()
    report = drift_report(doc, drifted=True)
    assert report["text"] == "reconciler drift: 1 resource differs from the configuration: cores.a"


def run(url: str, handler: object, sleeps: list[float]) -> None:
    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    transport = httpx2.MockTransport(handler)  # type: ignore[arg-type]
    asyncio.run(notify(url, {"drifted": False}, transport=transport, sleep=sleep))


def test_delivery_retries_a_server_error_then_succeeds() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(503 if len(seen) == 1 else 200, json={})

    sleeps: list[float] = []
    run(URL, handler, sleeps)
    assert len(seen) == 2 and len(sleeps) == 1
    assert str(seen[-1].url) == URL and json.loads(seen[-1].content) == {"drifted": False}


def test_failure_is_an_error_without_the_token() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            400, json={"error": f"bad hook {request.url.path} sig={request.url.params['sig']}"}
        )

    with pytest.raises(NotifyError) as caught:
        run(URL, handler, [])
    message = str(caught.value)
    assert message.startswith("could not send the drift report to https://hooks.slack.com/…: HTTP 400")
    assert "XXXXsecretXXXX" not in message and "abcdef123456" not in message and "T000/B000" not in message


def test_a_connection_failure_is_reported_after_the_retries() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"cannot reach {request.url}")

    sleeps: list[float] = []
    with pytest.raises(NotifyError, match="cannot connect") as caught:
        run(URL, handler, sleeps)
    assert len(sleeps) == 3 and "XXXXsecretXXXX" not in str(caught.value)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(NotifyError, match=r"not sending the drift report to http://hooks.example.com/…"):
        run("http://hooks.example.com/services/TOKEN123456", lambda r: httpx2.Response(200), [])
