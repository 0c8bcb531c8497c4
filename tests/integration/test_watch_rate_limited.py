"""A rate-limited API: the watch's stacks share one endpoint limiter, so 429 and Retry-After pause
the endpoint for every stack; the checks still succeed (after the pause), nothing is reported as
errored, and the 429s and retries are counted in /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx2

from reconciler.sandbox.limits import LimitConfig
from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet
from tests.support.sandbox import StartSandbox
from tests.support.watch import metric, running_watch


def test_429s_pause_and_are_counted_and_no_stack_errors(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    root = tmp_path / "fleet"
    start_sandbox(limits=LimitConfig(rate_limit=10.0))  # 10 requests a second; over it, 429
    applied_fleet(root, run_cli, 8)
    with running_watch("--stacks", root, "--interval", "1s") as watch:
        watch.wait_for(lambda: len(watch.events("checked")) >= 24, "three rounds of checks", timeout=90)
        text = httpx2.get(f"{watch.url}/metrics").text
        assert watch.stop() == 0
    assert metric(text, "reconciler_watch_api_rate_limited_total", api="signaloid") > 0
    assert metric(text, "reconciler_watch_api_retries_total", api="signaloid") > 0
    assert {c["status"] for c in watch.events("checked")} == {"in_sync"}
    assert watch.events("errored") == []
