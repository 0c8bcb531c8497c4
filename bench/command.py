"""The whole command, start-up included: `reconciler plan` of 1,000 resources vs 1, at 25 ms;
and start-up: `reconciler --help` and `reconciler validate` of a small stack.

    python bench/command.py [--resources 1000] [--runs 3]

Each stack has its own sandbox (its own data directory and server), seeded at zero latency,
then served with 25 ms latency and page size 100; `reconciler plan` runs as a subprocess.
Start-up figures are the best of ``--runs``; ``python -X importtime`` checks that validate
imports no HTTP, diff or server library.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import _harness as h

HEAVY = ("httpx2", "deepdiff", "starlette", "uvicorn", "anyio", "psycopg")


def timed(cmd: list[str], environ: Mapping[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=environ, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


def best(cmd: list[str], runs: int, environ: Mapping[str, str] | None = None) -> float:
    return min(timed(cmd, environ) for _ in range(runs))


def heavy_imports(cmd: list[str]) -> list[str]:
    proc = subprocess.run([h.PYTHON, "-X", "importtime", *cmd], capture_output=True, text=True)
    found = set()
    for line in proc.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name.split(".")[0] in HEAVY:
            found.add(name.split(".")[0])
    return sorted(found)


def plan_command(stack_dir: Path, data_dir: Path, latency_ms: float, runs: int) -> list[float]:
    cli = [h.PYTHON, "-m", "reconciler.cli", "plan", "-f", str(stack_dir), "--detailed-exitcode"]
    with h.Server(data_dir, latency_ms=latency_ms, page_size=h.PAGE_SIZE) as server:
        return [timed(cli, server.environ, ok=(0,)) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=h.LATENCY_MS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli = [h.PYTHON, "-m", "reconciler.cli"]
    kinds = h.kinds_in_use()
    counts = h.spread(args.resources, kinds)
    with h.workdir("command") as work:
        small = h.write_stack(work / "small", h.stack_doc({"cores": 3, "repositories": 1, "webhooks": 1}))
        help_s = best([*cli, "--help"], args.runs)
        validate_s = best([*cli, "validate", "-f", str(small)], args.runs)
        python_s = best([h.PYTHON, "-c", "pass"], args.runs)
        validate_heavy = heavy_imports(["-m", "reconciler.cli", "validate", "-f", str(small)])
        help_heavy = heavy_imports(["-m", "reconciler.cli", "--help"])

        big_dir, one_dir = work / "big", work / "one"
        h.write_stack(big_dir, h.stack_doc(counts))
        h.write_stack(one_dir, h.stack_doc({"cores": 1}))
        h.seed(big_dir, work / "big-data")
        h.seed(one_dir, work / "one-data")
        big = plan_command(big_dir, work / "big-data", args.latency_ms, args.runs)
        one = plan_command(one_dir, work / "one-data", args.latency_ms, args.runs)
    big_s, one_s = min(big), min(one)
    ratio = big_s / one_s
    figures = {
        "resources": args.resources,
        "by_kind": counts,
        "latency_ms": args.latency_ms,
        "python_bare_s": round(python_s, 3),
        "help_s": round(help_s, 3),
        "validate_small_s": round(validate_s, 3),
        "validate_heavy_imports": validate_heavy,
        "help_heavy_imports": help_heavy,
        "plan_big_s": round(big_s, 3),
        "plan_one_s": round(one_s, 3),
        "plan_big_runs_s": [round(x, 3) for x in big],
        "plan_one_runs_s": [round(x, 3) for x in one],
        "ratio_big_to_one": round(ratio, 2),
    }
    h.report(
        "command",
        figures,
        [
            ("python -c pass", f"{python_s:.3f} s", "(the interpreter alone)"),
            ("reconciler --help", f"{help_s:.3f} s", f"target < 0.5 s: {h.verdict(help_s < 0.5)}"),
            (
                "reconciler validate (5 resources)",
                f"{validate_s:.3f} s",
                f"target < 0.5 s: {h.verdict(validate_s < 0.5)}",
            ),
            (
                "heavy imports in validate",
                ", ".join(validate_heavy) or "none",
                f"checked: {', '.join(HEAVY)}",
            ),
            (f"reconciler plan, {args.resources} resources", f"{big_s:.3f} s", f"best of {big}"),
            ("reconciler plan, 1 resource", f"{one_s:.3f} s", f"best of {one}"),
            ("ratio", f"{ratio:.2f}", f"target <= 2: {h.verdict(ratio <= 2)}"),
        ],
    )


if __name__ == "__main__":
    main()
