"""Three ``reconciler watch`` replicas sharing 50 stacks through one PostgreSQL: every stack is
checked once per interval by one replica, a replica killed with SIGKILL mid-cycle hands its
stacks over within an interval, and nothing is applied twice (each create and each heal is one
call on the API)."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.fleet import drift_outside, write_stack
from tests.support.postgres import own_schema
from tests.support.sandbox import Sandbox, StartSandbox
from tests.support.watch import WatchProcess, running_watch, set_watch

STACKS = 50
INTERVAL = 10.0
TICK = 1.0  # the watch's tick at this interval: min(1s, interval / 4)
SLACK = 4.0  # a shared host at load 10-15 (2 cores): a check may start this much late


class Writes:
    """ASGI layer: the write calls made to the emulators (method, first path segment after the API)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT", "DELETE"):
            parts = scope["path"].strip("/").split("/")
            self.calls[(scope["method"], parts[1] if len(parts) > 1 else "")] += 1
        await self.app(scope, receive, send)


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    with own_schema() as dsn:
        yield dsn


def checks_by_stack(replicas: list[WatchProcess]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for replica in replicas:
        for line in replica.events("checked"):
            found[line["stack"]].append({**line, "replica": replica.proc.pid})
    return {stack: sorted(lines, key=lambda c: c["started_unix"]) for stack, lines in found.items()}


@pytest.mark.slow
def test_three_replicas_share_fifty_stacks_and_survive_a_kill(
    tmp_path: Path, start_sandbox: StartSandbox, schema_dsn: str
) -> None:
    sandbox: Sandbox = start_sandbox(wrap=Writes)
    writes: Writes = sandbox.app
    root = tmp_path / "fleet"
    for i in range(STACKS):
        folder = write_stack(root / f"s{i:02d}", {f"c{i}": 128}, api_key=f"key-{i}")
        set_watch(folder, sync=True, heal=True)
    env = {"RECONCILER_STATE_BACKEND": "postgres", "RECONCILER_PG_DSN": schema_dsn}
    args = ("--stacks", root, "--interval", f"{INTERVAL:g}s", "--max-stacks", "12")
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(running_watch(*args, "--replica-name", f"r{n}", env=env, listen="off"))
            for n in range(3)
        ]

        def all_in_sync() -> bool:
            latest = {s: lines[-1]["status"] for s, lines in checks_by_stack(replicas).items()}
            return len(latest) == STACKS and set(latest.values()) == {"in_sync"}

        replicas[0].wait_for(all_in_sync, "every stack created and in sync", timeout=90)
        steady = time.time()  # the creates are done: from here on, every stack every interval
        assert writes.calls[("POST", "cores")] == STACKS  # each core created once, by one replica

        # Drift some cores, then kill one replica while it holds claims (checks in flight).
        for i in range(0, STACKS, 5):
            drift_outside(sandbox.signaloid_url, f"key-{i}", f"c{i}", 16)
        drifted = len(range(0, STACKS, 5))  # PATCHes made outside reconciler
        victim = replicas[2]
        with psycopg.connect(schema_dsn, autocommit=True) as db:

            def victim_claims() -> list[str]:
                rows = db.execute("SELECT stack FROM reconciler_watch_stacks WHERE owner = 'r2'").fetchall()
                return [row[0] for row in rows]

            held = victim.wait_for(victim_claims, "the victim holding claims", timeout=30)
            victim.proc.kill()
            killed_at = time.time()
        victim.proc.wait(10)
        survivors = replicas[:2]

        def all_healed() -> bool:
            healed = {e["stack"] for r in replicas for e in r.events("healed")}
            return len(healed) == drifted

        replicas[0].wait_for(all_healed, "every core healed", timeout=60)
        end = time.time() + 2 * INTERVAL  # two more whole intervals, all stacks
        replicas[0].wait_for(lambda: time.time() > end, "two more intervals", timeout=4 * INTERVAL)
        for replica in survivors:
            assert replica.stop() == 0

    # No double apply: one create and one heal (PATCH) per core, whoever made them.
    assert writes.calls[("POST", "cores")] == STACKS
    assert writes.calls[("PATCH", "cores")] - drifted == drifted
    heals = Counter(a for r in replicas for e in r.events("healed") for a in e["addresses"])
    assert len(heals) == drifted and set(heals.values()) == {1}

    by_stack = checks_by_stack(replicas)
    import json

    Path("/tmp/i33-replicas.json").write_text(
        json.dumps({"killed_at": killed_at, "victim": victim.proc.pid, "by_stack": by_stack})
    )
    assert len(by_stack) == STACKS
    victim_checks = sum(1 for lines in by_stack.values() for c in lines if c["replica"] == victim.proc.pid)
    assert victim_checks > 0  # it did share the work before it died
    failed = [(n, c["error"]) for n, lines in by_stack.items() for c in lines if c["failed"]]
    assert failed == []  # (a failure backs off, which would stretch its stack's interval)
    for name, lines in by_stack.items():
        for before, after in itertools.pairwise(c for c in lines if c["started_unix"] >= steady):
            # No double check: one check of a stack at a time, and not twice within an interval.
            assert after["started_unix"] >= before["at_unix"], (name, before, after)
            assert after["started_unix"] - before["started_unix"] >= (1 - 0.1) * INTERVAL - 0.2, (
                name,
                before,
                after,
            )
            # Checked every interval, through the kill: the victim's stacks were handed over at once.
            assert after["started_unix"] - before["started_unix"] <= INTERVAL + TICK + SLACK, (
                name,
                before,
                after,
            )
        assert lines[-1]["started_unix"] > killed_at + INTERVAL  # still checked after the kill
    for name in held:  # what the victim held when it died went to the others within the interval
        after_kill = [c for c in by_stack[name] if c["started_unix"] > killed_at]
        assert after_kill and after_kill[0]["started_unix"] - killed_at <= INTERVAL + TICK + SLACK
