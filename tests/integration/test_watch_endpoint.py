"""The watch's HTTP endpoint, served by a real ``reconciler watch`` over loopback: the probes, the
JSON API, the Prometheus metrics, and the live page as headless Chromium renders it (counts from
the API, each stack's history, names escaped); another address needs --allow-remote and a token."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from reconciler.app.fleet.html import COLOURS
from tests.support.chromium import Elements, dump_dom, rgb, screenshot
from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet, drift_outside
from tests.support.png import colours
from tests.support.sandbox import StartSandbox
from tests.support.watch import metric, running_watch

HOSTILE = "<b>broken&amp;"


def test_probes_api_metrics_and_the_live_page(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    folders = applied_fleet(root, run_cli, 2)
    drift_outside(sandbox.signaloid_url, "key-1", "s1-a", 32)
    (root / HOSTILE).mkdir()
    (root / HOSTILE / "stack.yaml").write_text("version: 1\ncores: [\n")
    names = {f"{root.as_posix()}/{f.relative_to(root).as_posix()}" for f in folders}
    with (
        running_watch("--stacks", root, "--interval", "1s") as watch,
        httpx2.Client(base_url=watch.url) as web,
    ):
        watch.wait_for(lambda: len({c["stack"] for c in watch.events("checked")}) == 3, "all three checked")
        watch.wait_for(lambda: web.get("/readyz").status_code == 200, "ready")
        assert web.get("/healthz").text == "ok\n"

        doc = web.get("/api/v1/stacks").json()
        assert doc["report"] == "reconciler-watch" and doc["suspended"] is False
        assert doc["checked_with"]["sandbox"] is False  # the page's next commands need no --sandbox
        status = {s["name"]: s["status"] for s in doc["stacks"]}
        assert status == {
            f"{root.as_posix()}/{HOSTILE}": "errored",
            f"{root.as_posix()}/team-1/env-1": "drifted",
            f"{root.as_posix()}/team-0/env-0": "in_sync",
        }
        assert {s["name"] for s in doc["stacks"]} - {f"{root.as_posix()}/{HOSTILE}"} == names
        drifted = next(s for s in doc["stacks"] if s["status"] == "drifted")
        assert [e["event"] for e in drifted["watch"]["history"]] == ["drifted"]
        assert drifted["watch"]["held"] == [{"address": "cores.s1-a", "why": "drift; heal is off"}]
        one = web.get(f"/api/v1/stacks/{drifted['name']}")
        assert one.status_code == 200 and one.json()["name"] == drifted["name"]
        assert web.get("/api/v1/stacks/nope").status_code == 404

        text = web.get("/metrics").text
        assert metric(text, "reconciler_watch_stack_status", stack=drifted["name"], status="drifted") == 1
        assert metric(text, "reconciler_watch_stack_status", stack=drifted["name"], status="in_sync") == 0
        assert metric(text, "reconciler_watch_stack_resources", stack=drifted["name"], status="drifted") == 1
        assert metric(text, "reconciler_watch_checks_total", stack=drifted["name"]) >= 1
        assert (
            metric(
                text,
                "reconciler_watch_failures_total",
                stack=f"{root.as_posix()}/{HOSTILE}",
                reason="errored",
            )
            >= 1
        )
        assert metric(text, "reconciler_watch_api_requests_total", api="signaloid") >= 2
        assert metric(text, "reconciler_watch_api_rate_limited_total", api="signaloid") == 0

        dom = Elements()
        dom.feed(dump_dom(f"{watch.url}/"))
        shot = screenshot(f"{watch.url}/", tmp_path / "watch.png")
        assert watch.stop() == 0

    rows = Counter(a["data-status"] for a in dom.having("tr", "stack"))
    assert rows == Counter({"errored": 1, "drifted": 1, "in_sync": 1})
    refresh = [a for t, a in dom.found if t == "meta" and a.get("http-equiv") == "refresh"]
    assert refresh and int(refresh[0]["content"]) >= 1
    events = {a["data-event"] for a in dom.having("tr", "event")}
    assert {"drifted", "errored"} <= events
    assert not [t for t, _ in dom.found if t == "b"], "a stack's name was rendered as markup"
    assert any(a.get("data-name", "").endswith(f"/{HOSTILE}") for a in dom.having("details", "stack"))
    seen = colours(shot)
    for state in ("errored", "drifted", "in_sync"):
        assert rgb(COLOURS[state]) in seen, state
    assert rgb(COLOURS["pending"]) not in seen


def outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # no packet is sent: only the route is chosen
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_another_address_needs_allow_remote_and_a_token(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    start_sandbox()
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 1)
    refused = run_cli("watch", "--stacks", root, "--listen", "0.0.0.0:0")
    assert refused.exit_code == 1 and "not a loopback address" in refused.stderr
    no_token = run_cli("watch", "--stacks", root, "--listen", "0.0.0.0:0", "--allow-remote")
    assert no_token.exit_code == 1 and "RECONCILER_WATCH_TOKEN" in no_token.stderr
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address but loopback to reach the endpoint from")
    token = "t0ken-for-the-watch-endpoint"
    env = {"RECONCILER_WATCH_TOKEN": token}
    with running_watch(
        "--stacks", root, "--interval", "1s", "--allow-remote", env=env, listen="0.0.0.0:0"
    ) as watch:
        assert watch.url is not None
        port = watch.url.rsplit(":", 1)[1]
        with httpx2.Client(base_url=f"http://{address}:{port}") as outside:
            assert outside.get("/healthz").status_code == 200  # the probes say nothing but ok
            assert outside.get("/api/v1/stacks").status_code == 401
            assert (
                outside.get("/metrics", headers={"Authorization": "Bearer wrong-token-0000000"}).status_code
                == 401
            )
            assert outside.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as local:
            assert local.get("/api/v1/stacks").status_code == 200  # loopback: a port-forward, say
        assert watch.stop() == 0
    assert token not in "".join(watch.stderr)
