"""SIGTERM: ``reconciler watch`` stops claiming, lets the checks in flight finish within the grace
period (or cancels them at its end: an apply cut short leaves its journal for the next run) and
exits 0."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet, write_stack
from tests.support.sandbox import StartSandbox
from tests.support.watch import running_watch


def test_sigterm_lets_checks_in_flight_finish_and_exits_0(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    start_sandbox(latency_ms=400)  # each list call takes 0.4 s: a check is in flight for a while
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 2)
    with running_watch("--stacks", root, "--interval", "1h", "--grace", "20s", listen="off") as watch:
        watch.wait_for(lambda: any("Watching" in line for line in watch.stderr), "the start")
        time.sleep(0.5)  # the first checks have started, and cannot have ended
        assert watch.events("checked") == []
        sent = time.monotonic()
        watch.proc.send_signal(signal.SIGTERM)
        assert watch.stop() == 0
        took = time.monotonic() - sent
    assert len(watch.events("checked")) == 2  # both finished: nothing was cut short
    assert took < 20
    assert watch.events("draining") and not watch.events("cancelled")


def test_sigterm_cancels_what_outlasts_the_grace_period_and_exits_0(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    start_sandbox(latency_ms=3000)
    write_stack(tmp_path / "fleet" / "slow", {"a": 128})
    with running_watch(
        "--stacks", tmp_path / "fleet", "--interval", "1h", "--grace", "1s", listen="off"
    ) as watch:
        watch.wait_for(lambda: any("Watching" in line for line in watch.stderr), "the start")
        time.sleep(0.5)
        sent = time.monotonic()
        assert watch.stop() == 0
        took = time.monotonic() - sent
    assert took < 1 + 5 + 2  # the grace, then at most 5 s for the cancelled checks to unwind
    assert watch.events("cancelled") and watch.events("checked") == []
