"""Fleet drift: `reconciler drift --stacks DIR` over 200 stacks of 25 resources each, at 25 ms,
against one stack's `reconciler drift -f DIR` (both whole commands, start-up included); the
fleet command's CPU per stack, with 1 and 2 worker processes; its peak RSS; and the time with the
fleet split into 2 and 4 shards.

    python bench/fleet.py [--stacks 200] [--resources 25] [--runs 3] [--workers 1,2] [--shards 2,4]
                          [--watch-workers 1,2] [--watch-cycles 4]

CPU per stack (issue 34's measure): (fleet CPU - start-up CPU) / (stacks - 1), where the start-up
CPU is that of the same command over a folder of one of the stacks; CPU is the whole process
tree's (``wait4``: the command and its worker processes), so it is steady on a busy host where
wall time is not. Peak RSS is the largest single process's (each worker has its own).

Every stack has its own Signaloid API key (its own user on the emulator, as projects have their
own accounts) and all of them call one endpoint: one served sandbox (a child process), seeded at
zero latency by the tool's own apply, then restarted with 25 ms latency and page size 100.
Shards are timed one at a time, each alone on this machine, as N machines would run them side by
side: "time with N shards" is the slowest shard's. Targets: <= 300 MB (issue 16); <= 5 ms of CPU
per stack of 25 resources (issue 34; issue 16's "fleet <= 3x one stack's command" is withdrawn).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import _harness as h

KINDS = ["cores", "repositories", "webhooks"]


def write_fleet(root: Path, stacks: int, resources: int) -> list[Path]:
    folders = []
    for i in range(stacks):
        folder = root / f"project-{i % 20:02d}" / f"env-{i:03d}"
        h.write_stack(folder, h.stack_doc(h.spread(resources, KINDS), prefix=f"s{i:03d}"))
        stack = folder / "stack.yaml"
        text = stack.read_text(encoding="utf-8")
        stack.write_text(
            text + f'providers:\n  signaloid: {{api_key: "fleet-key-{i:03d}"}}\n', encoding="utf-8"
        )
        folders.append(folder)
    return folders


async def seed_all(folders: list[Path], environ: Mapping[str, str], at_once: int = 8) -> None:
    slots = asyncio.Semaphore(at_once)

    async def one(folder: Path) -> None:
        async with slots:
            await h.apply_stack(folder, environ, parallelism=16)

    await asyncio.gather(*(one(f) for f in folders))


class Ran(NamedTuple):
    wall_s: float
    cpu_s: float  # user + system of the command's process: steadier than wall on a busy host
    rss_mb: float
    stdout: str


def run(cmd: list[str], environ: Mapping[str, str], ok: tuple[int, ...] = (0,)) -> Ran:
    """Wall and CPU seconds, peak RSS (MB) of that one child process (``wait4``), its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=dict(environ), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err.read().decode()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return Ran(elapsed, cpu, usage.ru_maxrss / 1024, out.read().decode())


def tree_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of a live process, and of it with its live children (watch's
    workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = []
    for one in pids:
        with contextlib.suppress(OSError):  # (a worker that just exited)
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks.append(int(fields[11]) + int(fields[12]))
    tick = os.sysconf("SC_CLK_TCK")
    return ticks[0] / tick, sum(ticks) / tick


class Cycles(NamedTuple):
    wall_s: float  # per cycle, after the first
    cpu_s: float
    cpu_ms_per_stack: float
    parent_ms_per_stack: float  # the watch process alone (with workers: schedule, history, logs)
    first_s: float  # the first cycle: start-up included


def watch_cycles(
    fleet_dir: Path, environ: Mapping[str, str], workers: int, cycles: int, stacks: int, max_stacks: int
) -> Cycles:
    """``cycles`` back-to-back cycles of ``reconciler watch --workers N`` over the fleet."""
    cmd = [h.PYTHON, "-m", "reconciler.cli", "watch", "--stacks", str(fleet_dir), "--interval", "1s"]
    cmd += ["--workers", str(workers)] if workers else []  # 0: no flag (code without it, for an A/B)
    cmd += ["--max-stacks", str(max_stacks), "--log-format", "json"]
    cmd += ["--listen", "off"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=dict(environ), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    checked: Counter[str] = Counter()
    marks: list[tuple[float, tuple[float, float]]] = []  # (wall, CPU) at the end of each cycle
    try:
        for line in proc.stdout:
            record = json.loads(line)
            if record["event"] != "checked":
                continue
            checked[record["stack"]] += 1
            done = min(checked.values()) if len(checked) == stacks else 0
            while len(marks) < done:
                marks.append((time.perf_counter(), tree_cpu_s(proc.pid)))
            if len(marks) >= cycles:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
    if len(marks) < cycles or code != 0:
        raise SystemExit(f"watch --workers {workers} exited {code} after {len(marks)} cycles")
    (wall0, (parent0, cpu0)), (wall1, (parent1, cpu1)) = marks[0], marks[-1]
    per_cycle_cpu = (cpu1 - cpu0) / (cycles - 1)
    parent_ms = (parent1 - parent0) / (cycles - 1) / stacks * 1000
    per_stack_ms = per_cycle_cpu / stacks * 1000
    return Cycles((wall1 - wall0) / (cycles - 1), per_cycle_cpu, per_stack_ms, parent_ms, wall0 - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--resources", type=int, default=25)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    parser.add_argument("--shards", default="2,4", help="shard counts to time (empty: none)")
    parser.add_argument("--watch-workers", default="", help="watch --workers counts to time (empty: none)")
    parser.add_argument("--watch-cycles", type=int, default=4, help="cycles per watch run (>= 2)")
    parser.add_argument("--watch-max-stacks", type=int, default=32, help="watch --max-stacks")
    args = parser.parse_args()
    watch_counts = [int(n) for n in args.watch_workers.split(",") if n]
    # 0: no --workers flag at all (to run this script against code without it, for an A/B)
    worker_counts = [int(n) for n in args.workers.split(",") if n]

    def workers_flag(n: int) -> list[str]:
        return ["--workers", str(n)] if n else []

    shard_counts = [int(n) for n in args.shards.split(",") if n]
    cli = [h.PYTHON, "-m", "reconciler.cli", "drift"]
    cpu_ref_start = h.cpu_reference_s()
    with h.workdir("fleet") as work:
        fleet_dir, data_dir = work / "fleet", work / "data"
        folders = write_fleet(fleet_dir, args.stacks, args.resources)
        t = time.perf_counter()
        with h.Server(data_dir, latency_ms=0, page_size=h.PAGE_SIZE) as server:
            asyncio.run(seed_all(folders, server.environ))
        seed_s = time.perf_counter() - t
        with h.Server(data_dir, latency_ms=args.latency_ms, page_size=h.PAGE_SIZE) as server:
            env = server.environ
            one = [run([*cli, "-f", str(folders[0])], env) for _ in range(args.runs)]
            lone_dir = work / "lone"
            shutil.copytree(folders[0], lone_dir / folders[0].name)
            lone = [
                run([*cli, "--stacks", str(lone_dir), *workers_flag(min(worker_counts))], env)
                for _ in range(args.runs)
            ]
            by_workers: dict[int, list[Ran]] = {}
            for _ in range(args.runs):  # interleaved, so a slow minute of the host hits all alike
                for n in worker_counts:
                    cmd = [*cli, "--stacks", str(fleet_dir), "--format", "json", *workers_flag(n)]
                    by_workers.setdefault(n, []).append(run(cmd, env))
            fleet_runs = by_workers[worker_counts[0]]
            report: dict[str, Any] = json.loads(fleet_runs[0].stdout)
            shards: dict[int, list[Ran]] = {}
            for count in shard_counts:
                shards[count] = []
                for index in range(count):
                    shard_cmd = [*cli, "--stacks", str(fleet_dir), "--shard", f"{index}/{count}"]
                    shard_cmd += workers_flag(min(worker_counts))
                    runs = [run(shard_cmd, env) for _ in range(max(1, args.runs - 1))]
                    shards[count].append(min(runs, key=lambda r: r.wall_s))
            watches: dict[int, list[Cycles]] = {}
            server_before_watch = server.cpu_s()
            for _ in range(args.runs if watch_counts else 0):  # interleaved, as above
                for n in watch_counts:
                    ran = watch_cycles(
                        fleet_dir, env, n, args.watch_cycles, args.stacks, args.watch_max_stacks
                    )
                    watches.setdefault(n, []).append(ran)
            server_cpu_s = server.cpu_s()
    one_s, one_cpu = min(r.wall_s for r in one), min(r.cpu_s for r in one)
    fleet_s, fleet_cpu = min(r.wall_s for r in fleet_runs), min(r.cpu_s for r in fleet_runs)
    peak_mb = max(r.rss_mb for r in fleet_runs)
    start_up_cpu = statistics.median(r.cpu_s for r in lone)
    per_stack_ms = {
        n: statistics.median((r.cpu_s - start_up_cpu) / (args.stacks - 1) * 1000 for r in runs)
        for n, runs in by_workers.items()
    }
    wall_by_workers = {n: statistics.median(r.wall_s for r in runs) for n, runs in by_workers.items()}
    summary = report["summary"]
    assert summary["stacks"] == args.stacks and summary["in_sync"] == args.stacks, summary
    ratio = fleet_s / one_s
    figures = {
        "stacks": args.stacks,
        "resources_per_stack": args.resources,
        "latency_ms": args.latency_ms,
        "seed_s": round(seed_s, 2),
        "one_stack_s": round(one_s, 3),
        "one_stack_runs_s": [round(r.wall_s, 3) for r in one],
        "one_stack_cpu_s": round(one_cpu, 3),
        "fleet_s": round(fleet_s, 3),
        "fleet_runs_s": [round(r.wall_s, 3) for r in fleet_runs],
        "fleet_cpu_s": round(fleet_cpu, 3),
        "fleet_vs_one_cpu": round(fleet_cpu / one_cpu, 2),
        "fleet_check_s": report["duration_s"],
        "fleet_vs_one": round(ratio, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "requests": summary["http"].get("signaloid", {}).get("requests"),
        "start_up_cpu_s": round(start_up_cpu, 3),
        "cpu_ms_per_stack_median": {str(n): round(ms, 2) for n, ms in per_stack_ms.items()},
        "workers_wall_s_median": {str(n): round(s, 3) for n, s in wall_by_workers.items()},
        "workers_runs": {
            str(n): [
                {"wall_s": round(r.wall_s, 3), "cpu_s": round(r.cpu_s, 3), "rss_mb": round(r.rss_mb, 1)}
                for r in runs
            ]
            for n, runs in by_workers.items()
        },
        "shards_s": {str(n): [round(r.wall_s, 3) for r in runs] for n, runs in shards.items()},
        "shards_cpu_s": {str(n): [round(r.cpu_s, 3) for r in runs] for n, runs in shards.items()},
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_s_watch": round(server_cpu_s - server_before_watch, 2),
        "watch_cycles": {
            str(n): [{k: round(v, 3) for k, v in c._asdict().items()} for c in runs]
            for n, runs in watches.items()
        },
        "cpu_ref_s_start": cpu_ref_start,
    }
    rows = [
        ("one stack: reconciler drift -f", f"{one_s:.2f} s ({one_cpu:.2f} s CPU)", ""),
        (
            f"fleet: drift --stacks ({args.stacks} x {args.resources})",
            f"{fleet_s:.2f} s ({fleet_cpu:.2f} s CPU)",
            "",
        ),
        (
            "fleet / one stack",
            f"{ratio:.2f}x ({fleet_cpu / one_cpu:.2f}x CPU)",
            "",
        ),
        ("fleet peak RSS", f"{peak_mb:.0f} MB", f"<= 300 MB {h.verdict(peak_mb <= 300)}"),
        ("HTTP requests (whole fleet)", str(figures["requests"]), ""),
        ("start-up CPU (--stacks over one stack)", f"{start_up_cpu:.2f} s", ""),
    ]
    for n in worker_counts:
        ms = per_stack_ms[n]
        rows.append(
            (
                f"--workers {n}: wall (median) / CPU per stack",
                f"{wall_by_workers[n]:.2f} s / {ms:.2f} ms",
                f"<= 5 ms {h.verdict(ms <= 5)}",
            )
        )
    for count, runs in shards.items():
        rows.append((f"with {count} shards (slowest shard)", f"{max(r.wall_s for r in runs):.2f} s", ""))
    for n, cycles in watches.items():
        wall = statistics.median(c.wall_s for c in cycles)
        cpu = statistics.median(c.cpu_s for c in cycles)
        ms = statistics.median(c.cpu_ms_per_stack for c in cycles)
        parent = statistics.median(c.parent_ms_per_stack for c in cycles)
        rows.append(
            (
                f"watch --workers {n}: wall / CPU per cycle",
                f"{wall:.2f} s / {cpu:.2f} s ({ms:.2f} ms a stack, watch process {parent:.2f})",
                "",
            )
        )
    h.report("fleet", figures, rows)


if __name__ == "__main__":
    main()
