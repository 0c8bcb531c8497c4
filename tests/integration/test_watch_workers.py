"""``reconciler watch --workers N`` (``app/watch/remote.py`` on ``app/fleet/workers.py``): real
worker processes checking stacks against the emulators over loopback sockets. Their results match
one process's, check after check, with the workers kept open; heal runs in a worker while this
process keeps the history; the endpoint budget is split; a worker killed mid-check leaves its
stacks errored (never in sync) and is started again, and the stacks recover; SIGTERM, and the
watch process's own death, leave no worker behind."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx2
import psycopg

from tests.support.cli import RunCli
from tests.support.counting import Counting
from tests.support.fleet import applied_fleet, drift_outside, write_stack
from tests.support.postgres import own_schema
from tests.support.sandbox import StartSandbox
from tests.support.watch import WatchProcess, metric, running_watch, set_watch

STACKS = 4


def worker_pids(watch: WatchProcess) -> list[int]:
    line = watch.wait_for(
        lambda: next((line for line in watch.stderr if line.startswith("Checking in ")), None),
        "the workers to start",
    )
    return [int(pid) for pid in re.findall(r"pid (\d+)", line)]


def parent_of(pid: int) -> int | None:
    """The parent of a live process (None: gone, or a zombie about to be)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    if re.search(r"^State:\s+Z", status, re.M):
        return None
    return int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


def gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(parent_of(pid) is not None for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def checked_twice(watch: WatchProcess) -> bool:
    names = [line["stack"] for line in watch.events("checked")]
    return len(set(names)) == STACKS and all(names.count(n) >= 2 for n in set(names))


def results(watch: WatchProcess) -> dict[str, tuple[str, list[Any], Any]]:
    """Each stack's latest result from the API: status, changes, and what watch decided."""
    stacks = httpx2.get(f"{watch.url}/api/v1/stacks", timeout=10).json()["stacks"]
    return {
        s["name"]: (
            s["status"],
            s["changes"],
            {k: v for k, v in s["watch"].items() if k != "history"},
        )
        for s in stacks
    }


def test_two_workers_report_what_one_process_does_check_after_check(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, STACKS)
    drift_outside(sandbox.signaloid_url, "key-1", "s1-a", 32)
    seen, drifted = {}, {}
    for workers in ("1", "2"):
        work = tmp_path / f"work-{workers}"  # each run its own history: both see the drift anew
        args = ("--stacks", root, "--interval", "1s", "--workers", workers, "--work-dir", work)
        with running_watch(*args) as watch:
            pids = worker_pids(watch) if workers == "2" else []
            watch.wait_for(lambda: checked_twice(watch), "two checks of every stack")
            seen[workers] = results(watch)
            drifted[workers] = [d["stack"] for d in watch.events("drifted")]
            assert all(parent_of(pid) == watch.proc.pid for pid in pids)  # the same workers throughout
            assert watch.stop() == 0
        assert any("Checking in" in line for line in watch.stderr) == (workers == "2")
        assert gone(pids), "a worker outlived the watch after SIGTERM"
    assert len(pids) == 2 and watch.proc.pid not in pids
    assert seen["2"] == seen["1"]
    statuses = sorted(status for status, _, _ in seen["2"].values())
    assert statuses == ["drifted", "in_sync", "in_sync", "in_sync"]
    assert (
        drifted["2"] == drifted["1"] == [n for n, (status, _, _) in seen["2"].items() if status == "drifted"]
    )


def test_heal_runs_in_a_worker_and_this_process_keeps_the_history(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    folders = applied_fleet(root, run_cli, STACKS)
    set_watch(folders[0], heal=True)
    work = tmp_path / "work"
    with running_watch("--stacks", root, "--interval", "1s", "--workers", "2", "--work-dir", work) as watch:
        worker_pids(watch)
        watch.wait_for(lambda: len(watch.events("checked")) >= STACKS, "a first check of every stack")
        drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 32)
        heal = watch.wait_for(lambda: watch.events("healed"), "the heal")[0]
        assert heal["addresses"] == ["cores.s0-a"]
        assert watch.stop() == 0
    with httpx2.Client(base_url=sandbox.signaloid_url, headers={"Authorization": "key-0"}) as api:
        cores = {c["Name"]: c["Precision"] for c in api.get("/cores").json()["Cores"] if c.get("Name")}
    assert cores["s0-a"] == 128
    scratch = work / folders[0].relative_to(root) / ".reconciler"
    history = (scratch / "watch-history.json").read_text()
    assert '"healed"' in history and (scratch / "journal.jsonl").is_file()


def test_the_workers_keep_the_endpoint_budget_of_one_process(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    server = start_sandbox(wrap=Counting, latency_ms=30).app
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, STACKS)
    server.reset()
    args = ("--stacks", root, "--interval", "1s", "--workers", "2", "--per-endpoint", "2")
    with running_watch(*args) as watch:
        assert len(worker_pids(watch)) == 2
        watch.wait_for(lambda: checked_twice(watch), "two checks of every stack")
        assert watch.stop() == 0
    assert server.methods["GET"] >= 2 * STACKS
    assert server.peak <= 2, server.peak  # 1 + 1: split, not 2 to each worker


def test_a_worker_killed_mid_check_leaves_its_stacks_errored_then_they_recover(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    start_sandbox(latency_ms=300)  # a check takes a second or more: killed while in flight
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, STACKS)
    with running_watch("--stacks", root, "--interval", "2s", "--workers", "2") as watch:
        before = worker_pids(watch)
        time.sleep(0.3)  # every stack has been sent to a worker; none can have been checked
        assert watch.events("checked") == []
        os.kill(before[0], signal.SIGKILL)
        errored = watch.wait_for(lambda: watch.events("errored"), "errored stacks")
        assert all("worker process checking it exited unexpectedly" in e["message"] for e in errored)
        restarted = watch.wait_for(lambda: watch.events("worker_restarted"), "a new worker", timeout=60)
        assert str(before[0]) in restarted[0]["message"]
        lost = {e["stack"] for e in errored}
        watch.wait_for(
            lambda: {e["stack"] for e in watch.events("recovered")} >= lost,
            "the stacks to recover",
            timeout=60,
        )
        text = httpx2.get(f"{watch.url}/metrics", timeout=10).text
        assert metric(text, "reconciler_watch_worker_restarts_total") >= 1
        assert metric(text, "reconciler_watch_workers") == 2
        latest = {line["stack"]: line["status"] for line in watch.events("checked")}
        assert set(latest.values()) == {"in_sync"}, latest
        assert all(
            line["status"] == "in_sync" for line in watch.events("checked") if line["stack"] not in lost
        )
        now = [
            int(pid)
            for pid in re.findall(r"worker process \d+ exited; (\d+) started", restarted[0]["message"])
        ]
        assert watch.stop() == 0
    assert gone([*before, *now])


def test_workers_exit_when_the_watch_process_is_killed(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    start_sandbox(latency_ms=300)
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 2)
    with running_watch("--stacks", root, "--interval", "1s", "--workers", "2", listen="off") as watch:
        pids = worker_pids(watch)
        time.sleep(0.5)  # checks in flight in the workers
        watch.proc.kill()
        watch.proc.wait(10)
    assert gone(pids), "workers outlived a watch process killed with SIGKILL"


def test_workers_write_postgresql_state_and_this_process_the_shared_history(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    """State in PostgreSQL (written by the workers' applies, under each stack's lock), claims and
    history in PostgreSQL (written by the watch process): each core created once, healed once."""
    sandbox = start_sandbox(wrap=Counting)
    server: Counting = sandbox.app
    root = tmp_path / "fleet"
    for i in range(STACKS):
        set_watch(write_stack(root / f"s{i}", {f"c{i}": 128}, api_key=f"key-{i}"), sync=True, heal=True)
    with own_schema() as dsn:
        env = {"RECONCILER_STATE_BACKEND": "postgres", "RECONCILER_PG_DSN": dsn}
        with running_watch("--stacks", root, "--interval", "1s", "--workers", "2", env=env) as watch:
            assert len(worker_pids(watch)) == 2
            watch.wait_for(lambda: len(watch.events("synced")) == STACKS, "every core created")
            watch.wait_for(lambda: checked_twice(watch), "two checks of every stack")
            assert server.methods["POST"] == STACKS and server.methods["PATCH"] == 0
            drift_outside(sandbox.signaloid_url, "key-2", "c2", 16)
            heal = watch.wait_for(lambda: watch.events("healed"), "the heal")[0]
            assert heal["addresses"] == ["cores.c2"]
            assert watch.stop() == 0
        assert server.methods["POST"] == STACKS and server.methods["PATCH"] == 2  # drift + heal
        with psycopg.connect(dsn) as db:
            events = db.execute("SELECT count(*) FROM reconciler_watch_events").fetchone()
        assert events is not None and events[0] >= STACKS  # (synced, at least) recorded by the parent


def test_ctrl_c_reaches_the_workers_too_but_only_the_watch_process_acts_on_it(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    """A terminal's Ctrl-C signals the whole process group: a worker ignores it (and SIGTERM, which
    a service manager may send to every process) and the watch process drains, then stops them."""
    start_sandbox(latency_ms=200)
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, STACKS)
    with running_watch("--stacks", root, "--interval", "1s", "--workers", "2", "--grace", "20s") as watch:
        pids = worker_pids(watch)
        watch.wait_for(lambda: len(watch.events("checked")) >= 1, "a first check")
        for pid in pids:
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        assert all(parent_of(pid) == watch.proc.pid for pid in pids)  # still there, still its
        watch.proc.send_signal(signal.SIGINT)
        assert watch.stop() == 0
    assert watch.events("worker_restarted") == []  # no worker died of the signals
    assert all(line["status"] == "in_sync" for line in watch.events("checked"))
    assert watch.events("errored") == []
    assert gone(pids)
