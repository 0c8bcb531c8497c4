"""Reliability figures (issue 7): `python bench/reliability.py [--resources N] [--fault-rate F] [--kills K]`.

Serves the three emulators on loopback behind a seeded fault mix (500, 503, 429, drops, lost
responses), applies a stack of N resources across every kind until it converges, counts live objects
by natural key through the emulators' own APIs, then (optionally) SIGKILLs a few applies at random
points and re-runs each. Prints one line of JSON, then a table. Exit 1 if any duplicate or orphan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.sandbox.faults import FAULT_KINDS, FaultConfig, FaultInjector
from tests.support.reliability import (
    Inventory,
    combined_app,
    environ,
    spread,
    stack_doc,
    state_ids,
    write_stack,
)
from tests.support.servers import serve_app

BIN = Path(sys.executable).with_name("reconciler")
CALLS = re.compile(r"^  (\w+): (\d+) requests, (\d+) retries, (\d+) rate-limited \(429\)$", re.MULTILINE)


def run(env: dict[str, str], folder: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN), "apply", "--auto-approve", "--parallelism", "16", "-f", str(folder)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument(
        "--kills", type=int, default=5, help="SIGKILLed applies after the fault run (0: none)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        data, folder = Path(tmp) / "data", Path(tmp) / "stack"
        data.mkdir()
        app = combined_app(data)
        config = FaultConfig(fault_rate=args.fault_rate, seed=args.seed, retry_after_s=0.05)
        faults = FaultInjector(app, config)
        counts = spread(args.resources)
        with serve_app(faults) as base, serve_app(app) as clean:
            env = {**os.environ, **environ(base), "NO_COLOR": "1"}
            inventory = Inventory(clean)
            before = inventory.snapshot()
            write_stack(folder, stack_doc(counts, base))
            started, runs = time.monotonic(), []
            while len(runs) < 4 and (not runs or runs[-1].returncode != 0):
                runs.append(run(env, folder))
            elapsed = time.monotonic() - started
            retries = limited = 0
            for r in runs:
                for _api, _req, ret, lim in CALLS.findall(r.stdout):
                    retries, limited = retries + int(ret), limited + int(lim)
            found = inventory.check(state_ids(folder), args.resources, before)
            faults_seen = dict(faults.stats)

            kills = survived = 0
            rng = random.Random(args.seed)
            for i in range(args.kills):
                doc = stack_doc(counts, base)
                for spec in doc["cores"].values():
                    spec["precision"] = rng.choice([32, 64, 128, 256]) + i % 2
                write_stack(folder, doc)
                command = [str(BIN), "apply", "--auto-approve", "--parallelism", "4", "-f", str(folder)]
                proc = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    proc.wait(timeout=rng.uniform(0.6, 2.0))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                    kills += 1
                    again = run(env, folder)
                    check = inventory.check(state_ids(folder), args.resources, before)
                    ok = again.returncode == 0 and not check["duplicates"] and not check["orphans"]
                    survived += ok
                    found["duplicates"] = found["duplicates"] or check["duplicates"]
                    found["orphans"] = found["orphans"] or check["orphans"]
            inventory.close()

    figures = {
        "resources": args.resources,
        "kinds": counts,
        "fault_rate": args.fault_rate,
        "seed": args.seed,
        "apply_runs": len(runs),
        "converged": runs[-1].returncode == 0,
        "seconds": round(elapsed, 1),
        "requests": faults_seen["requests"],
        "faults": {k: faults_seen[k] for k in ("faults", *FAULT_KINDS)},
        "retries": retries,
        "rate_limited_429": limited,
        "duplicates": sum(sum(v.values()) - len(v) for v in found["duplicates"].values()),
        "orphans": len(found["orphans"]),
        "lost_state": len(found["lost"]),
        "kills": kills,
        "kills_survived": survived,
    }
    print(json.dumps(figures))
    rows = [
        ("resources", f"{args.resources} ({', '.join(f'{k} {v}' for k, v in counts.items())})"),
        (
            "apply runs to converge",
            f"{len(runs)} ({'converged' if figures['converged'] else 'NOT converged'})",
        ),
        ("time", f"{figures['seconds']} s"),
        ("requests seen by the API", str(figures["requests"])),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in figures["faults"].items())),
        ("retries (client)", str(retries)),
        ("429s (client)", str(limited)),
        ("duplicates (must be 0)", str(figures["duplicates"])),
        ("orphans (must be 0)", str(figures["orphans"])),
        ("lost state (must be 0)", str(figures["lost_state"])),
        ("kills survived", f"{survived}/{kills}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    bad = figures["duplicates"] or figures["orphans"] or figures["lost_state"] or not figures["converged"]
    return 1 if bad or survived != kills else 0


if __name__ == "__main__":
    sys.exit(main())
