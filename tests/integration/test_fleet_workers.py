"""``drift --stacks --workers N`` (``app/fleet/workers.py``): worker processes, each checking a share
of the fleet against the emulators on a loopback socket, merged into the report one process would
write; together they keep no more requests in flight to an endpoint than ``--per-endpoint``; a
worker that dies leaves its stacks errored; workers kept open serve several checks (``watch``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.app.fleet.discover import discover
from reconciler.app.fleet.run import check_fleet
from reconciler.app.fleet.workers import FleetWorkers, check_in_workers, split, worker_count
from tests.support.cli import RunCli
from tests.support.counting import Counting
from tests.support.fleet import applied_fleet, drift_outside
from tests.support.sandbox import Sandbox, StartSandbox


@pytest.fixture
def counted(start_sandbox: StartSandbox) -> tuple[Sandbox, Counting]:
    sandbox = start_sandbox(wrap=Counting, latency_ms=20)
    return sandbox, sandbox.app


def _by_name(report: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    return {s["name"]: (s["status"], s["changes"]) for s in report["stacks"]}


def test_workers_write_the_report_one_process_would_and_keep_the_endpoint_budget(
    tmp_path: Path, run_cli: RunCli, counted: tuple[Sandbox, Counting]
) -> None:
    sandbox, server = counted
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 6)
    drift_outside(sandbox.signaloid_url, "key-1", "s1-a", 32)
    stacks = discover([root])
    alone = asyncio.run(check_fleet(stacks, environ=os.environ, per_endpoint=2))
    server.reset()
    seen: list[str] = []

    together = asyncio.run(
        check_in_workers(
            stacks,
            environ=os.environ,
            workers=2,
            per_endpoint=2,
            min_stacks_per_worker=1,
            on_checked=lambda entry: seen.append(entry["name"]),
        )
    )

    assert _by_name(together) == _by_name(alone)
    assert together["summary"] == alone["summary"] and together["exit_code"] == 2
    assert sorted(seen) == sorted(s.name for s in stacks)
    assert server.peak <= 2, server.peak  # 1 + 1: the budget is split, not given to each
    assert server.methods["GET"] >= 6 * 3


def test_the_budget_and_the_stacks_are_split_evenly() -> None:
    assert split(32, 2) == [16, 16] and split(5, 2) == [3, 2] and split(1, 1) == [1]
    assert worker_count(200, 16, 32) == 4  # one per 50 stacks
    assert worker_count(2_000, 16, 32) == 16 and worker_count(2_000, 16, 8) == 8  # budget >= 1 each
    assert worker_count(30, 16, 32) == 1  # checked in this process


def test_a_worker_that_dies_during_a_check_leaves_its_stacks_errored_and_is_replaced(
    tmp_path: Path, run_cli: RunCli, sandbox_server: Sandbox
) -> None:
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 4)
    stacks = discover([root])

    async def check() -> tuple[dict[str, Any], dict[str, Any], list[int], list[int]]:
        async with FleetWorkers(2, environ=os.environ) as workers:
            started = workers.pids()
            checking = asyncio.ensure_future(workers.check(stacks))
            await asyncio.sleep(0.05)  # its job sent; the worker is still starting up
            os.kill(started[0], 9)
            first = await checking
            second = await workers.check(stacks)
            return first, second, started, workers.pids()

    first, second, before, after = asyncio.run(check())
    statuses = [s["status"] for s in first["stacks"]]
    assert sorted(statuses) == ["errored", "errored", "in_sync", "in_sync"], statuses
    errored = next(s for s in first["stacks"] if s["status"] == "errored")
    assert "worker process checking it exited unexpectedly" in errored["error"]
    assert first["exit_code"] == 1
    assert after[0] != before[0] and after[1] == before[1]  # the dead one replaced
    assert second["summary"]["in_sync"] == 4 and second["exit_code"] == 0


def test_workers_kept_open_serve_several_checks(
    tmp_path: Path, run_cli: RunCli, sandbox_server: Sandbox
) -> None:
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 3)
    stacks = discover([root])

    async def twice() -> tuple[list[dict[str, Any]], list[int], list[int]]:
        async with FleetWorkers(2, environ=os.environ) as workers:
            first = await workers.check(stacks)
            pids = workers.pids()
            drift_outside(sandbox_server.signaloid_url, "key-2", "s2-b", 16)
            second = await workers.check(stacks)
            return [first, second], pids, workers.pids()

    (first, second), before, after = asyncio.run(twice())
    assert before == after and len(set(before)) == 2 and os.getpid() not in before
    assert first["summary"]["in_sync"] == 3 and first["exit_code"] == 0
    assert second["summary"]["drifted"] == 1 and second["exit_code"] == 2


def test_the_cli_takes_workers_with_stacks_only(
    tmp_path: Path, run_cli: RunCli, sandbox_server: Sandbox
) -> None:
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 2)
    result = run_cli("drift", "--stacks", root, "--workers", "2", "--format", "json")
    assert result.exit_code == 0, result
    assert result.json()["summary"]["in_sync"] == 2
    alone = run_cli("drift", "-f", root / "team-0" / "env-0", "--workers", "2")
    assert alone.exit_code == 1 and "--workers needs --stacks DIR" in alone.stderr


def test_the_command_lines_policies_judge_every_stack_in_the_workers(
    tmp_path: Path, run_cli: RunCli, sandbox_server: Sandbox
) -> None:
    from reconciler.app.policy_gate import PolicyChoice

    library = Path(__file__).resolve().parents[2] / "examples" / "policy"
    root = tmp_path / "fleet"
    folders = applied_fleet(root, run_cli, 4)
    first = folders[0] / "stack.yaml"  # past the library's bound: a denial
    first.write_text(first.read_text().replace("precision: 64", "precision: 1024"), encoding="utf-8")
    stacks = discover([root])
    report = asyncio.run(
        check_in_workers(
            stacks,
            environ=os.environ,
            workers=2,
            min_stacks_per_worker=1,
            policy=PolicyChoice((library,), "main"),
        )
    )
    assert report["summary"]["policy_denied"] == 1 and report["exit_code"] == 1
    judged = [s for s in report["stacks"] if s.get("policy") is not None]
    assert len(judged) == 4  # every stack, in both workers
