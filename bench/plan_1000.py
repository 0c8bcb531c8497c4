"""Refresh + plan of 1,000 managed resources over every kind, at 25 ms latency, page size 100.

    python bench/plan_1000.py [--resources 1000] [--latency-ms 25] [--runs 5]

Seeds the resources with the tool's own apply against a zero-latency sandbox, restarts the
sandbox on the same data with latency, then measures in this process: refresh + plan wall time
(median of ``--runs`` fresh sessions, new connections each), HTTP requests (``ApiClient.stats``),
the ideal (the longest chain of sequential list pages in any one kind x latency), and a naive
baseline in the same run: one GET per resource, 10 at a time, as Terraform refreshes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _harness as h


async def measured_plan(stack_dir: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """One refresh + plan in a fresh session, as ``reconciler plan`` does it (``app.planning.plan_run``:
    each kind planned while the others' pages are on the way); times each stage."""
    from reconciler.app.planning import plan_run
    from reconciler.app.session import open_session
    from reconciler.engine.deciding.plan import plan

    t0 = time.perf_counter()
    session = open_session([stack_dir], sandbox=False, environ=environ)
    t_load = time.perf_counter() - t0
    async with session:
        t1 = time.perf_counter()
        snapshot = session.store.read()
        kinds = session.kinds_in_play(snapshot)
        session.provider_for(kinds)  # clients built (no I/O) before the clock starts
        t2 = time.perf_counter()
        run = await plan_run(session)
        the_plan, live = run.plan, run.live
        t3 = time.perf_counter()
        # For the record: the plan alone, as it would cost after the refresh instead of during it.
        plan(session.loaded.resources, live, snapshot)
        t4 = time.perf_counter()
        requests = sum(p.stats().requests for p in session.providers.values())
    return {
        "load_s": t_load,
        "setup_s": t2 - t1,
        "plan_s": t4 - t3,
        "wall_s": t3 - t2,
        "requests": requests,
        "summary": the_plan.summary(),
        "live_counts": {k: len(v) for k, v in live.objects.items()},
        "external": {k: len(v) for k, v in live.external_ids.items()},
    }


async def naive_refresh(stack_dir: Path, environ: Mapping[str, str], concurrency: int = 10) -> dict[str, Any]:
    """The Terraform way: one GET per managed resource (by its id from state), ``concurrency`` at a time."""
    from reconciler.app.session import open_session

    session = open_session([stack_dir], sandbox=False, environ=environ)
    async with session:
        snapshot = session.store.read()
        providers = session.provider_for(session.kinds_in_play(snapshot))
        gate = asyncio.Semaphore(concurrency)

        async def get(kind: str, remote_id: str, extra: Mapping[str, Any]) -> Any:
            async with gate:
                if kind in ("cores", "repositories", "webhooks"):
                    return await providers["signaloid"].http.json("GET", f"/{kind}/{remote_id}")
                steamship = providers["steamship"].http
                if kind == "workspaces":
                    return await steamship.json("POST", "workspace/get", json={"id": remote_id})
                headers = {"X-Workspace-Id": str(extra.get("workspace_id", ""))}
                return await steamship.json(
                    "POST", "package/instance/get", json={"id": remote_id}, headers=headers
                )

        started = time.perf_counter()
        await asyncio.gather(*(get(e.kind, e.remote_id, e.extra) for e in snapshot.entries.values()))
        elapsed = time.perf_counter() - started
        requests = sum(p.stats().requests for p in providers.values())
    return {"refresh_s": elapsed, "requests": requests}


def startup_s() -> float:
    """Interpreter start-up plus the imports a plan needs, in a fresh process (best of 3)."""
    code = (
        "import reconciler.cli, reconciler.app.session, reconciler.providers.signaloid, "
        "reconciler.engine.presenting.render"
    )
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([h.PYTHON, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from reconciler.cli.common import collect_garbage_less

    collect_garbage_less()  # as the reconciler command does
    kinds = h.kinds_in_use()
    counts = h.spread(args.resources, kinds)
    with h.workdir("plan") as work:
        stack_dir, data_dir = work / "stack", work / "data"
        h.write_stack(stack_dir, h.stack_doc(counts))
        seed_s = h.seed(stack_dir, data_dir)
        with h.Server(data_dir, latency_ms=args.latency_ms, page_size=h.PAGE_SIZE) as server:
            runs = [asyncio.run(measured_plan(stack_dir, server.environ)) for _ in range(args.runs)]
            naive = asyncio.run(naive_refresh(stack_dir, server.environ))
    first = runs[0]
    if first["summary"]["no-op"] != args.resources:
        raise SystemExit(f"the seeded stack does not plan as {args.resources} no-ops: {first['summary']}")
    wall = statistics.median(r["wall_s"] for r in runs)
    plan_s = statistics.median(r["plan_s"] for r in runs)
    live_counts = dict(first["live_counts"])
    pages = h.ideal_list_pages(live_counts)
    pages["cores(default)"] = h.ideal_list_pages({"cores": first["external"].get("cores", 0)})["cores"]
    chain = max(pages.values())
    ideal = chain * args.latency_ms / 1000
    naive_total = naive["refresh_s"] + plan_s  # the naive way plans after its refresh
    figures = {
        "resources": args.resources,
        "by_kind": counts,
        "latency_ms": args.latency_ms,
        "page_size": h.PAGE_SIZE,
        "seed_s": round(seed_s, 2),
        "startup_s": round(startup_s(), 3),
        "load_s": round(statistics.median(r["load_s"] for r in runs), 3),
        "plan_s": round(plan_s, 4),
        "wall_s": round(wall, 4),
        "wall_runs_s": [round(r["wall_s"], 4) for r in runs],
        "requests": first["requests"],
        "list_pages": pages,
        "min_requests": sum(pages.values()),
        "ideal_s": ideal,
        "ratio_to_ideal": round(wall / ideal, 2),
        "naive_refresh_s": round(naive["refresh_s"], 3),
        "naive_requests": naive["requests"],
        "naive_s": round(naive_total, 3),
        "speedup_vs_naive": round(naive_total / wall, 1),
    }
    h.report(
        "plan_1000",
        figures,
        [
            ("resources (by kind)", f"{args.resources}", ", ".join(f"{k}={n}" for k, n in counts.items())),
            ("interpreter + imports", f"{figures['startup_s']:.3f} s", "(reported apart)"),
            ("load + validate", f"{figures['load_s']:.3f} s", "(not in the wall time below)"),
            ("plan alone (CPU)", f"{figures['plan_s']:.3f} s", "(overlaps the refresh below)"),
            ("refresh + plan, median", f"{wall:.3f} s", f"runs: {figures['wall_runs_s']}"),
            ("ideal", f"{ideal:.3f} s", f"{chain} sequential pages x {args.latency_ms:g} ms"),
            ("ratio to ideal", f"{wall / ideal:.2f}", f"target <= 1.5: {h.verdict(wall / ideal <= 1.5)}"),
            (
                "HTTP requests",
                f"{first['requests']}",
                f"list pages: {sum(pages.values())}: {h.verdict(first['requests'] == sum(pages.values()))}",
            ),
            ("naive: GET each, 10 at a time", f"{naive_total:.3f} s", f"{naive['requests']} requests"),
            (
                "speed-up vs naive",
                f"{naive_total / wall:.1f}x",
                f"target >= 10x: {h.verdict(naive_total / wall >= 10)}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
