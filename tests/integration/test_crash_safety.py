"""Issue 7.3: SIGKILL at pseudo-random points (seeded) of `reconciler apply`, run as a subprocess against
all three emulators served on loopback with some latency, so kills land mid-apply: in the plan, between
a call and its state write, inside fsyncs. After each kill the next apply runs to completion, taking
over the stale lock the killed process left, and then:

- it converges (the plan is empty) with zero duplicates and zero orphans (every live object the runs
  created is in state), counted by natural key through the emulators' own HTTP APIs;
- no state is lost: every entry recorded before the kill that is still declared keeps its remote id;
- when the kill left calls in flight (journal intents without a result), its stderr says so.

Each iteration moves the stack to a new variant of ~57 resources (updates, some deletes, re-creates),
so every killed run has work to be interrupted in.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.faults import FaultConfig, FaultInjector
from tests.support.cli import RECONCILER_BIN
from tests.support.kills import apply_and_kill
from tests.support.reliability import Inventory, combined_app, environ, stack_doc, state_ids, write_stack
from tests.support.servers import serve_app

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("KILL_SEED", "7"))
KILLS = 32
MAX_ITERATIONS = 60
COUNTS = {"cores": 20, "repositories": 15, "webhooks": 10, "workspaces": 4, "package_instances": 6,
          "sequences": 2}  # fmt: skip


def variant(base: str, rng: random.Random) -> dict[str, Any]:
    """The full stack, with some precisions and descriptions changed and a few leaves left out."""
    doc = stack_doc(COUNTS, base, prefix="k")
    for spec in doc["cores"].values():
        if rng.random() < 0.4:
            spec["precision"] = rng.choice([32, 64, 128, 256])
    for spec in doc["webhooks"].values():
        if rng.random() < 0.4:
            spec["description"] = f"variant {rng.randrange(5)}"
    for section in ("repositories", "webhooks", "package_instances"):
        for name in rng.sample(sorted(doc[section]), 2):
            del doc[section][name]
    return doc


def journal_in_flight(folder: Path, pid: int) -> tuple[bool, list[str]]:
    """(did the killed run begin its journal and not end it, the addresses with an intent but no result)."""
    path = folder / ".reconciler" / "journal.jsonl"
    if not path.exists():
        return False, []
    intents: dict[str, str] = {}
    began = ended = False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line torn by the kill
        if rec.get("event") == "run":
            began = rec.get("pid") == pid
        elif rec.get("event") == "intent":
            intents[rec["id"]] = rec["address"]
        elif rec.get("event") == "result":
            intents.pop(rec["id"], None)
        elif rec.get("event") == "end":
            ended = True
    return began and not ended, sorted(intents.values()) if began else []


@pytest.mark.timeout(300)
def test_sigkill_at_random_points_never_duplicates_orphans_or_loses_state(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data = tmp_path / "data"
    data.mkdir()
    app = combined_app(data)
    slow = FaultInjector(app, FaultConfig(latency_ms=8))
    folder = tmp_path / "stack"
    figures = {"kills": 0, "in_flight_reported": 0, "stale_locks": 0, "iterations": 0}
    with serve_app(slow) as base, serve_app(app) as clean:
        env = {
            **{k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
            **environ(base),
            "NO_COLOR": "1",
        }
        command = [str(RECONCILER_BIN), "apply", "--auto-approve", "--parallelism", "4", "-f", str(folder)]
        inventory = Inventory(clean)
        try:
            before = inventory.snapshot()
            while figures["kills"] < KILLS and figures["iterations"] < MAX_ITERATIONS:
                figures["iterations"] += 1
                doc = variant(base, rng)
                write_stack(folder, doc)
                declared = {f"{kind}.{name}" for kind in COUNTS for name in doc.get(kind, {})}
                pid, killed = apply_and_kill(command, env, rng.randrange(0, 16), rng.uniform(0, 0.04))
                if not killed:
                    continue
                figures["kills"] += 1
                recorded = state_ids(folder)
                unfinished, in_flight = journal_in_flight(folder, pid)
                if (folder / ".reconciler" / "state.json.lock").exists():
                    figures["stale_locks"] += 1

                rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
                context = f"kill {figures['kills']} (pid {pid}):\n{rerun.stdout[-3000:]}\n{rerun.stderr}"
                assert rerun.returncode == 0, context
                assert "Traceback" not in rerun.stderr, context
                if unfinished and in_flight:
                    figures["in_flight_reported"] += 1
                    assert f"The previous apply (pid {pid}" in rerun.stderr, context
                    for address in in_flight:
                        assert f"  {address}: " in rerun.stderr, context

                state = state_ids(folder)
                assert set(state) == declared, context
                kept = {a: i for a, i in recorded.items() if a in declared}
                assert {a: state[a] for a in kept} == kept, f"state lost or re-pointed\n{context}"
                found = inventory.check(state, len(declared), before)
                assert found["duplicates"] == {}, f"{found['duplicates']}\n{context}"
                assert found["orphans"] == [], f"{found['orphans']}\n{context}"
                assert found["lost"] == [] and found["live"] == len(declared), f"{found}\n{context}"
                plan = CliRunner().invoke(main, ["plan", "--detailed-exitcode", "-f", str(folder)], env=env)
                assert plan.exit_code == 0, f"{plan.output}\n{context}"
        finally:
            inventory.close()
    assert figures["kills"] >= KILLS, figures
    assert figures["stale_locks"] > 0 and figures["in_flight_reported"] > 0, figures
    print(f"\ncrash safety: {figures} (seed {SEED}); duplicates 0, orphans 0, lost state 0")
