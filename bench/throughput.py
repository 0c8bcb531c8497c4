"""Throughput of apply against real API limits: adaptive concurrency vs fixed --parallelism.

    python bench/throughput.py [--rate-creates 2000] [--rate-limit 100] [--creates 1000] [--latency-ms 25]

1. Throttled: ``--rate-creates`` Signaloid creates (cores, repositories, webhooks: one API, so one
   rate limit) against ``sandbox serve --rate-limit R`` at 25 ms, default flags. Ideal: creates / R
   seconds. Counted: HTTP requests, 429 answers, failed actions.
2. Unthrottled: ``--creates`` creates (cores, repositories, webhooks, workspaces) at 25 ms, no
   limit: a sweep of fixed ``--parallelism`` 8, 16, 32, 64 with adaptive concurrency off
   (``providers.*.http.adaptive_concurrency: false``), then the default flags (adaptive, up to the
   default --parallelism). Each run starts from an empty sandbox of its own; the five are run
   in turn ``--repeat`` times (interleaved, so a slow minute of this shared host hits them all
   alike) and each keeps its best time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _harness as h

from reconciler.engine.executing.apply import DEFAULT_PARALLELISM

SIGNALOID_KINDS = ("cores", "repositories", "webhooks")
ONE_CALL_KINDS = ("cores", "repositories", "webhooks", "workspaces")
SWEEP = (8, 16, 32, 64)
FIXED = {"http": {"adaptive_concurrency": False}}


async def measured_apply(stack_dir: Path, environ: Mapping[str, str], parallelism: int) -> dict[str, Any]:
    from reconciler.app.planning import plan_run
    from reconciler.app.session import open_session

    async with open_session([stack_dir], sandbox=False, environ=environ) as session:
        run = await plan_run(session)
        the_plan = run.plan
        before = session.http_stats()
        started = time.perf_counter()
        result = await session.apply(run, parallelism=parallelism)
        elapsed = time.perf_counter() - started
        after = session.http_stats()
        # The peak adaptive limit per API: read off the concrete providers that hold one client
        # (the Provider protocol shows only stats(); a benchmark may look further).
        clients = {name: getattr(p, "http", None) for name, p in session.providers.items()}
        limits = {
            name: round(http.limiter.peak_limit, 1)
            for name, http in clients.items()
            if http is not None and http.limiter is not None
        }
    requests = sum(s.requests for s in after.values()) - sum(s.requests for s in before.values())
    throttled = sum(s.rate_limited for s in after.values()) - sum(s.rate_limited for s in before.values())
    failed = sum(1 for r in result.results.values() if r.outcome.value != "done")
    creates = the_plan.summary()["create"]
    return {
        "apply_s": elapsed,
        "requests": requests,
        "429": throttled,
        "failed": failed,
        "creates": creates,
        "peak_limit": limits,
    }


def run_apply(
    work: Path,
    name: str,
    counts: Mapping[str, int],
    latency_ms: float,
    parallelism: int,
    *,
    fixed: bool = False,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    doc = h.stack_doc(counts)
    if fixed:
        doc = {"version": 1, "providers": {"signaloid": FIXED, "steamship": FIXED}, **doc}
    stack_dir = work / f"{name}-stack"
    h.write_stack(stack_dir, doc)
    with h.Server(work / f"{name}-data", latency_ms=latency_ms, extra=extra) as server:
        run = asyncio.run(measured_apply(stack_dir, server.environ, parallelism))
    total = sum(counts.values())
    if run["creates"] != total:
        raise SystemExit(f"{name}: planned {run['creates']} creates, expected {total}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-creates", type=int, default=2000)
    parser.add_argument("--rate-limit", type=float, default=100.0)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with h.workdir("throughput") as work:
        limited = run_apply(
            work,
            "limited",
            h.spread(args.rate_creates, list(SIGNALOID_KINDS)),
            args.latency_ms,
            DEFAULT_PARALLELISM,
            extra=("--rate-limit", str(args.rate_limit)),
        )
        counts = h.spread(args.creates, list(ONE_CALL_KINDS))
        sweep: dict[int, dict[str, Any]] = {}
        adaptive: dict[str, Any] = {}
        times: dict[str, list[float]] = {}  # every run's time, for the medians beside the bests
        for turn in range(args.repeat):
            for p in SWEEP:
                run = run_apply(work, f"fixed-{p}-{turn}", counts, args.latency_ms, p, fixed=True)
                times.setdefault(str(p), []).append(run["apply_s"])
                if p not in sweep or run["apply_s"] < sweep[p]["apply_s"]:
                    sweep[p] = run
            run = run_apply(work, f"adaptive-{turn}", counts, args.latency_ms, DEFAULT_PARALLELISM)
            times.setdefault("adaptive", []).append(run["apply_s"])
            if not adaptive or run["apply_s"] < adaptive["apply_s"]:
                adaptive = run
    ideal = args.rate_creates / args.rate_limit
    limited_ratio = limited["apply_s"] / ideal
    share_429 = limited["429"] / max(1, limited["requests"])
    best_p = min(sweep, key=lambda p: sweep[p]["apply_s"])
    best = sweep[best_p]["apply_s"]
    adaptive_ratio = adaptive["apply_s"] / best
    # Best-of-N is the target's measure; on a host whose speed swings, the medians say the same
    # thing with less luck in it (one lucky fixed run moves the best, not the median).
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    best_median = min(medians[str(p)] for p in SWEEP)
    adaptive_median_ratio = medians["adaptive"] / best_median
    failed = limited["failed"] + adaptive["failed"] + sum(r["failed"] for r in sweep.values())
    figures = {
        "latency_ms": args.latency_ms,
        "repeat": args.repeat,
        "limited": {
            **limited,
            "apply_s": round(limited["apply_s"], 3),
            "ideal_s": ideal,
            "ratio_to_ideal": round(limited_ratio, 3),
            "share_429": round(share_429, 4),
            "rate_limit": args.rate_limit,
        },
        "sweep_s": {p: round(r["apply_s"], 3) for p, r in sweep.items()},
        "best_fixed": best_p,
        "adaptive": {**adaptive, "apply_s": round(adaptive["apply_s"], 3)},
        "adaptive_to_best": round(adaptive_ratio, 3),
        "runs_s": {name: [round(t, 3) for t in runs] for name, runs in times.items()},
        "adaptive_median_to_best_median": round(adaptive_median_ratio, 3),
        "failed_actions": failed,
    }
    rows = [
        (
            f"{args.rate_creates} creates, --rate-limit {args.rate_limit:g}",
            f"{limited['apply_s']:.2f} s",
            f"ideal {ideal:.1f} s: {limited_ratio:.3f}x, target <= 1.15: {h.verdict(limited_ratio <= 1.15)}",
        ),
        (
            "  429 answers",
            f"{limited['429']}",
            f"of {limited['requests']} requests = {share_429:.1%}, "
            f"target <= 5%: {h.verdict(share_429 <= 0.05)}",
        ),
        ("  failed actions", f"{limited['failed']}", f"target 0: {h.verdict(limited['failed'] == 0)}"),
    ]
    for p, r in sweep.items():
        rows.append(
            (
                f"{args.creates} creates, fixed --parallelism {p}",
                f"{r['apply_s']:.3f} s",
                "best" if p == best_p else f"{r['apply_s'] / best:.2f}x best",
            )
        )
    rows.append(
        (
            f"{args.creates} creates, default flags (adaptive)",
            f"{adaptive['apply_s']:.3f} s",
            f"{adaptive_ratio:.3f}x best fixed, target <= 1.1: {h.verdict(adaptive_ratio <= 1.1)}; "
            f"peak limit {adaptive['peak_limit']}",
        )
    )
    rows.append(
        (
            "  medians of the runs",
            f"{medians['adaptive']:.3f} s",
            f"adaptive median / best fixed median {best_median:.3f} s = {adaptive_median_ratio:.3f}x",
        )
    )
    rows.append(("failed actions, all runs", f"{failed}", h.verdict(failed == 0)))
    h.report("throughput", figures, rows)


if __name__ == "__main__":
    main()
