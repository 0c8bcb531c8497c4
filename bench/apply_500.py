"""Apply creating 500 independent resources at --parallelism 16, 25 ms latency.

    python bench/apply_500.py [--resources 500] [--parallelism 16] [--latency-ms 25]

Cores, repositories (no core), webhooks and workspaces: each is created with one call, none
refers to another. The plan is made first (not timed); the apply (every create, and state
recorded durably after each) is timed in this process. Ideal: ceil(resources / parallelism)
rounds of one call each, x latency.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _harness as h

ONE_CALL_KINDS = ("cores", "repositories", "webhooks", "workspaces")


async def measured_apply(stack_dir: Path, environ: Mapping[str, str], parallelism: int) -> dict[str, Any]:
    from reconciler.app.planning import plan_run
    from reconciler.app.session import open_session

    async with open_session([stack_dir], sandbox=False, environ=environ) as session:
        run = await plan_run(session)
        the_plan = run.plan
        before = sum(p.stats().requests for p in session.providers.values())
        started = time.perf_counter()
        result = await session.apply(run, parallelism=parallelism)
        elapsed = time.perf_counter() - started
        requests = sum(p.stats().requests for p in session.providers.values()) - before
        recorded = len(session.store.read().entries)
    slowest = max(r.elapsed_s for r in result.results.values())
    return {
        "apply_s": elapsed,
        "ok": result.ok,
        "requests": requests,
        "summary": the_plan.summary(),
        "recorded": recorded,
        "slowest_action_s": slowest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    args = parser.parse_args()
    counts = h.spread(args.resources, list(ONE_CALL_KINDS))
    with h.workdir("apply") as work:
        stack_dir, data_dir = work / "stack", work / "data"
        h.write_stack(stack_dir, h.stack_doc(counts))
        with h.Server(data_dir, latency_ms=args.latency_ms, page_size=h.PAGE_SIZE) as server:
            cpu0, rusage0 = server.cpu_s(), h.self_cpu_s()
            run = asyncio.run(measured_apply(stack_dir, server.environ, args.parallelism))
            server_cpu, client_cpu = server.cpu_s() - cpu0, h.self_cpu_s() - rusage0
        # The floor, against an emulator as empty as the apply's was (its costs grow with its size).
        with h.Server(work / "floor-data", latency_ms=args.latency_ms, page_size=h.PAGE_SIZE) as server:
            floor = asyncio.run(
                h.bare_httpx_creates(server.environ["SIGNALOID_API_URL"], args.resources, args.parallelism)
            )
    if not run["ok"] or run["summary"]["create"] != args.resources or run["recorded"] != args.resources:
        raise SystemExit(f"the apply did not create and record {args.resources} resources: {run}")
    rounds = math.ceil(args.resources / args.parallelism)
    ideal = rounds * args.latency_ms / 1000
    ratio = run["apply_s"] / ideal
    figures = {
        "resources": args.resources,
        "by_kind": counts,
        "parallelism": args.parallelism,
        "latency_ms": args.latency_ms,
        "apply_s": round(run["apply_s"], 3),
        "requests": run["requests"],
        "ideal_s": ideal,
        "ratio_to_ideal": round(ratio, 2),
        "bare_httpx_floor_s": round(floor, 3),
        "ratio_to_floor": round(run["apply_s"] / floor, 2),
        "slowest_action_s": round(run["slowest_action_s"], 3),
        "server_cpu_s": round(server_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
    }
    h.report(
        "apply_500",
        figures,
        [
            ("creates (by kind)", f"{args.resources}", ", ".join(f"{k}={n}" for k, n in counts.items())),
            ("parallelism", f"{args.parallelism}", ""),
            ("HTTP requests", f"{run['requests']}", "one per create"),
            ("apply wall", f"{run['apply_s']:.3f} s", f"slowest action {run['slowest_action_s']:.3f} s"),
            (
                "ideal",
                f"{ideal:.3f} s",
                f"ceil({args.resources}/{args.parallelism}) x {args.latency_ms:g} ms",
            ),
            ("ratio to ideal", f"{ratio:.2f}", f"target <= 1.5: {h.verdict(ratio <= 1.5)}"),
            (
                "floor: bare httpx2",
                f"{floor:.3f} s",
                f"same {args.resources} POSTs, nothing else; apply / floor = {run['apply_s'] / floor:.2f}",
            ),
            ("CPU: sandbox / this process", f"{server_cpu:.2f} s", f"{client_cpu:.2f} s (plan + apply)"),
        ],
    )


if __name__ == "__main__":
    main()
