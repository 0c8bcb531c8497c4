"""`reconciler watch` over a fleet for a long run: memory and file descriptors stay flat, and the
CPU one stack's check costs in steady state (against `drift --stacks`' own per-stack figure).

    python bench/watch.py [--stacks 200] [--resources 25] [--interval 20s] [--minutes 30]

The fleet of bench/fleet.py (each stack its own Signaloid key, all on one served sandbox at
25 ms, seeded by the tool's own apply) is watched detect-only by one `reconciler watch` process.
Every 10 s the watch process's RSS (``VmRSS``), open descriptors (``/proc/PID/fd``) and CPU time
are sampled, and its checks counted from its own ``/metrics``. The first ``--warmup`` minutes
(imports, first pools, first cycles) are left out. Targets (issue 33): RSS growth over the
steady part < 10%, fd count flat, CPU per stack per cycle <= the fleet command's per stack.
Stacks one core keeps at a 60 s interval = 60 s / (CPU per stack per cycle).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import _harness as h
import httpx2
from fleet import run as run_command
from fleet import seed_all, write_fleet

SAMPLE_S = 10.0


def proc_figures(pid: int) -> tuple[float, int, float]:
    """(RSS in MB, open descriptors, CPU seconds) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, fds, cpu


def checks_so_far(base: str) -> int:
    text = httpx2.get(f"{base}/metrics", timeout=10).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("reconciler_watch_checks_total{")
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--resources", type=int, default=25)
    parser.add_argument("--interval", default="20s")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes left out at the start")
    args = parser.parse_args()
    cpu_ref_start = h.cpu_reference_s()
    with h.workdir("watch") as work:
        fleet_dir, data_dir = work / "fleet", work / "data"
        folders = write_fleet(fleet_dir, args.stacks, args.resources)
        with h.Server(data_dir, latency_ms=0, page_size=h.PAGE_SIZE) as server:
            asyncio.run(seed_all(folders, server.environ))
        with h.Server(data_dir, latency_ms=h.LATENCY_MS, page_size=h.PAGE_SIZE) as server:
            env = server.environ
            drift = [h.PYTHON, "-m", "reconciler.cli", "drift"]
            one = min(run_command([*drift, "-f", str(folders[0])], env).cpu_s for _ in range(3))
            fleet = min(run_command([*drift, "--stacks", str(fleet_dir)], env).cpu_s for _ in range(2))
            fleet_per_stack = (fleet - one) / args.stacks  # start-up (and one stack) left out
            port = h.free_port()
            cmd = [*drift[:3], "watch", "--stacks", str(fleet_dir), "--interval", args.interval]
            cmd += ["--listen", f"127.0.0.1:{port}"]
            watch = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            base = f"http://127.0.0.1:{port}"
            samples: list[dict[str, Any]] = []
            started = time.monotonic()
            try:
                while time.monotonic() - started < args.minutes * 60:
                    time.sleep(SAMPLE_S)
                    elapsed = time.monotonic() - started
                    if watch.poll() is not None:
                        raise SystemExit(f"watch exited {watch.returncode}")
                    rss, fds, cpu = proc_figures(watch.pid)
                    try:
                        checks = checks_so_far(base)
                    except httpx2.HTTPError:
                        continue
                    samples.append(
                        {
                            "t": round(elapsed, 1),
                            "rss_mb": round(rss, 2),
                            "fds": fds,
                            "cpu_s": cpu,
                            "checks": checks,
                        }
                    )
                    print(samples[-1], flush=True)
            finally:
                watch.terminate()
                code = watch.wait(60)
    steady = [s for s in samples if s["t"] >= args.warmup * 60]
    first, last = steady[0], steady[-1]
    growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"]
    peak_growth = (max(s["rss_mb"] for s in steady) - first["rss_mb"]) / first["rss_mb"]
    fds = [s["fds"] for s in steady]
    checks = last["checks"] - first["checks"]
    cpu_per_check = (last["cpu_s"] - first["cpu_s"]) / checks if checks else float("nan")
    figures = {
        "stacks": args.stacks,
        "resources_per_stack": args.resources,
        "interval": args.interval,
        "minutes": args.minutes,
        "warmup_minutes": args.warmup,
        "rss_mb_start": first["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_growth": round(growth, 4),
        "rss_peak_growth": round(peak_growth, 4),
        "fds_min": min(fds),
        "fds_max": max(fds),
        "fds_start": first["fds"],
        "fds_end": last["fds"],
        "checks_steady": checks,
        "cpu_per_stack_check_ms": round(cpu_per_check * 1000, 2),
        "fleet_cpu_per_stack_ms": round(fleet_per_stack * 1000, 2),
        "stacks_per_core_at_60s": int(60 / cpu_per_check) if checks else 0,
        "sigterm_exit": code,
        "cpu_ref_s_start": cpu_ref_start,
        "samples": samples,
    }
    rows = [
        (
            "RSS growth (steady part)",
            f"{first['rss_mb']:.1f} -> {last['rss_mb']:.1f} MB ({growth:+.1%}; peak {peak_growth:+.1%})",
            f"< 10% {h.verdict(growth < 0.10)}",
        ),
        (
            "open descriptors",
            f"{min(fds)}..{max(fds)} (start {first['fds']}, end {last['fds']})",
            f"flat {h.verdict(last['fds'] <= first['fds'] + 2)}",
        ),
        ("CPU per stack per cycle (watch)", f"{cpu_per_check * 1000:.1f} ms over {checks} checks", ""),
        (
            "CPU per stack (drift --stacks)",
            f"{fleet_per_stack * 1000:.1f} ms",
            f"watch <= fleet {h.verdict(cpu_per_check <= fleet_per_stack)}",
        ),
        (f"{args.resources}-resource stacks per core at 60 s", f"{figures['stacks_per_core_at_60s']}", ""),
        ("exit on SIGTERM", str(code), f"0 {h.verdict(code == 0)}"),
    ]
    h.report("watch", figures, rows)


if __name__ == "__main__":
    main()
