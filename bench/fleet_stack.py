"""CPU per stack of a fleet check, in one process, start-up excluded: ``check_fleet`` over N stacks
of 25 resources (cores, repositories, webhooks; each its own API key; 4 list requests a stack)
against a served sandbox, after a warm-up pass over 2 stacks (imports, models, the pool).

    python bench/fleet_stack.py [--stacks 100] [--passes 5] [--keep DIR]

Prints this process's CPU seconds per stack for each pass and their median (issue 34's target:
<= 5 ms per 25-resource stack). ``--keep DIR`` seeds the fleet into DIR once and reuses it on the
next run (seeding 100 stacks through the tool's own apply takes ~1-2 min), so main and a branch
can be run alternately on the same fleet: ``PYTHONPATH=/path/to/other/checkout python
bench/fleet_stack.py --keep DIR`` measures that checkout's code. For instructions per stack (steady
on a busy host) run the same under ``valgrind --tool=callgrind`` with ``--passes 1`` for two
sizes and divide the difference (bench/README.md, "Sixth round").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import _harness as h
import fleet as f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    parser.add_argument("--keep", type=Path, help="seed the fleet here once, and reuse it")
    args = parser.parse_args()
    cpu_ref = h.cpu_reference_s()
    with h.workdir("fleet-stack") as work:
        root = args.keep or work
        stacks_dir, data_dir = root / "stacks", root / "data"
        if not data_dir.exists():
            folders = f.write_fleet(stacks_dir, args.stacks, 25)
            with h.Server(data_dir, latency_ms=0, page_size=h.PAGE_SIZE) as server:
                asyncio.run(f.seed_all(folders, server.environ))
        with h.Server(data_dir, latency_ms=args.latency_ms, page_size=h.PAGE_SIZE) as server:
            os.environ.update(server.environ)
            from reconciler.app.fleet.discover import discover
            from reconciler.app.fleet.run import check_fleet
            from reconciler.cli.common import collect_garbage_less

            collect_garbage_less()  # as the command does
            stacks = discover([stacks_dir])[: args.stacks]
            asyncio.run(check_fleet(stacks[:2], environ=os.environ))  # warm-up: imports, models
            per_stack_ms = []
            for _ in range(args.passes):
                started = time.process_time()
                report = asyncio.run(check_fleet(stacks, environ=os.environ))
                per_stack_ms.append((time.process_time() - started) / len(stacks) * 1000)
                assert report["summary"]["in_sync"] == len(stacks), report["summary"]
    median = statistics.median(per_stack_ms)
    figures = {
        "stacks": len(stacks),
        "cpu_ms_per_stack": [round(ms, 2) for ms in per_stack_ms],
        "cpu_ms_per_stack_median": round(median, 2),
        "cpu_ref_s_start": cpu_ref,
    }
    rows = [
        ("CPU per stack, each pass", " ".join(f"{ms:.2f}" for ms in per_stack_ms), "ms"),
        ("CPU per stack, median", f"{median:.2f} ms", f"<= 5 ms {h.verdict(median <= 5)}"),
    ]
    h.report("fleet_stack", figures, rows)


if __name__ == "__main__":
    main()
