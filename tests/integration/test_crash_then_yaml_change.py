"""Issue 18.5: creates in flight when an apply is killed, then removed from the YAML before the re-run,
must not stay live and unmanaged. Apply runs as a subprocess against the emulators on loopback, with
a latency whose second half is on the way back, so a kill often lands after a create took effect and
before its answer was recorded. The addresses with a create in flight (journal intent, no result)
are then removed from the YAML, and the re-run must leave zero orphans and zero duplicates.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from reconciler.sandbox.faults import FaultConfig, FaultInjector
from tests.support.cli import RECONCILER_BIN
from tests.support.kills import apply_and_kill
from tests.support.reliability import Inventory, combined_app, environ, stack_doc, state_ids, write_stack
from tests.support.servers import serve_app

pytestmark = pytest.mark.slow

COUNTS = {"cores": 10, "webhooks": 10}
KILLS = 6


def creates_in_flight(folder: Path) -> list[str]:
    """Addresses whose create the killed run had started and not finished (journal intent, no result)."""
    path = folder / ".reconciler" / "journal.jsonl"
    intents: dict[str, dict[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # torn by the kill
        if rec.get("event") == "intent":
            intents[rec["id"]] = rec
        elif rec.get("event") == "result":
            intents.pop(rec["id"], None)
    return sorted(r["address"] for r in intents.values() if r["action"] == "create")


@pytest.mark.timeout(240)
def test_creates_killed_in_flight_then_removed_from_the_yaml_leave_no_orphans(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "18")))
    app = combined_app(tmp_path / "data")
    slow = FaultInjector(app, FaultConfig(latency_ms=60))
    figures = {"kills": 0, "removed_in_flight": 0, "adopted_then_deleted": 0, "iterations": 0}
    with serve_app(slow) as base, serve_app(app) as clean:
        env = {
            **{k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
            **environ(base),
            "NO_COLOR": "1",
        }
        inventory = Inventory(clean)
        try:
            while figures["kills"] < KILLS and figures["iterations"] < 30:
                figures["iterations"] += 1
                folder = tmp_path / f"stack-{figures['iterations']}"
                doc = stack_doc(COUNTS, base, prefix=f"p{figures['iterations']}")
                write_stack(folder, doc)
                before = inventory.snapshot()
                command = [
                    str(RECONCILER_BIN),
                    "apply",
                    "--auto-approve",
                    "--parallelism",
                    "6",
                    "-f",
                    str(folder),
                ]
                _, killed = apply_and_kill(command, env, rng.randrange(2, 14), rng.uniform(0.0, 0.03))
                in_flight = creates_in_flight(folder)
                if not killed or not in_flight:
                    continue
                figures["kills"] += 1
                figures["removed_in_flight"] += len(in_flight)
                for address in in_flight:  # the user edits the YAML before re-running
                    kind, name = address.split(".", 1)
                    del doc[kind][name]
                write_stack(folder, doc)
                declared = sum(len(doc.get(kind, {})) for kind in COUNTS)

                rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
                context = f"in flight {in_flight}:\n{rerun.stdout[-3000:]}\n{rerun.stderr}"
                assert rerun.returncode == 0, context
                figures["adopted_then_deleted"] += rerun.stdout.count("created by an interrupted apply")
                found = inventory.check(state_ids(folder), declared, before)
                assert found["orphans"] == [], f"{found}\n{context}"
                assert found["duplicates"] == {} and found["lost"] == [], f"{found}\n{context}"
                assert found["live"] == declared, f"{found}\n{context}"
        finally:
            inventory.close()
    assert figures["kills"] >= KILLS and figures["adopted_then_deleted"] > 0, figures
    print(f"\ncrash then YAML change: {figures}; orphans 0, duplicates 0")
