"""The policy step on a plan of 2,000 changes, against the example library (examples/policy).

    python bench/policy.py [--changes 2000] [--runs 5]

Part 1, in this process, stage by stage: a stack of ``--changes`` resources over every kind,
planned against empty live state (2,000 creates, every field listed: the plan JSON at its largest
per change); then the policy step as the commands run it: the engine process started and the
library compiled (``PolicyRun.start``; in ``plan`` this overlaps the refresh), and the judgement
(``PolicyGate.judge``: the input document, its trip to the engine, the queries, the findings).
CPU is counted on both sides: this process, and the engine process (from /proc).

Part 2, the whole command: ``reconciler plan --sandbox --format json`` of the same stack, with and
without ``--policy examples/policy``, alternated ``--runs`` times; wall time and CPU (the command
and its children, from ``wait4``). The budget (issue 30): the policy step adds at most 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _harness as h
import orjson

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "examples" / "policy"
BUDGET_S = 0.25


def _engine_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stages(stack_dir: Path) -> dict[str, Any]:
    from reconciler.app.policy_gate import PolicyChoice, PolicyGate
    from reconciler.config import load_stack
    from reconciler.engine.deciding.plan import plan
    from reconciler.policy.evaluate import PolicyRun, input_document
    from reconciler.policy.isolate import Limits
    from reconciler.policy.sources import load_policy_set
    from reconciler.state import StateSnapshot
    from reconciler.values import LiveState

    loaded = load_stack([stack_dir], os.environ)
    doc = plan(loaded.resources, LiveState(), StateSnapshot({})).to_json()
    pending = sum(c["pending"] for c in doc["changes"])
    t0, c0 = time.perf_counter(), time.process_time()
    policy = load_policy_set(PolicyChoice((LIBRARY,)).paths)
    run = PolicyRun(policy, Limits()).start()
    assert run._ready is not None
    engine = await run._ready
    t1, c1 = time.perf_counter(), time.process_time()
    pid = engine._process.pid
    engine_cpu_ready = _engine_cpu_s(pid)
    gate = PolicyGate([run], loaded, "bench")
    t2, c2 = time.perf_counter(), time.process_time()
    verdict = await gate.judge(doc, "plan")
    t3, c3 = time.perf_counter(), time.process_time()
    engine_cpu_judged = _engine_cpu_s(pid)
    # The engine's own account of a judgement (the same document again): building the input
    # document in the engine, and the queries, in CPU seconds.
    queries = [f"data.main.{rule}" for rule in policy.decision_rules()]
    input_doc = input_document(doc, stack="bench", command="plan", declared=gate._declared, providers={})
    inside = (await engine.request({"op": "query", "input": input_doc, "queries": queries}, "timing"))["cpu"]
    await gate.close()
    return {
        "changes": len(doc["changes"]),
        "pending": pending,
        "denials": sum(len(r.denials) for r in verdict.reports),
        "start_and_compile_wall_s": t1 - t0,
        "start_and_compile_cpu_parent_s": c1 - c0,
        "start_and_compile_cpu_engine_s": engine_cpu_ready,
        "judge_wall_s": t3 - t2,
        "judge_cpu_parent_s": c3 - c2,
        "judge_cpu_engine_s": engine_cpu_judged - engine_cpu_ready,
        "engine_input_cpu_s": inside["input_s"],
        "engine_queries_cpu_s": inside["queries_s"],
        "input_bytes": len(orjson.dumps(input_doc)),
    }


def command(stack_dir: Path, with_policy: bool) -> tuple[float, float]:
    """Wall and CPU seconds (the command and its children) of one ``reconciler plan``."""
    args = [str(Path(sys.executable).with_name("reconciler")), "plan", "--sandbox", "-f", str(stack_dir)]
    args += ["--format", "json"]
    if with_policy:
        args += ["--policy", str(LIBRARY)]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"plan exited {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cpu_ref = h.cpu_reference_s()
    with h.workdir("bench-policy-") as work:
        stack_dir = work / "stack"
        kinds = ["cores", "repositories", "webhooks", "workspaces", "package_instances"]
        h.write_stack(stack_dir, h.stack_doc(h.spread(args.changes, kinds)))
        figures = asyncio.run(stages(stack_dir))
        plain, gated = [], []
        for _ in range(args.runs):  # paired, alternated: the host's speed drifts within minutes
            plain.append(command(stack_dir, False))
            gated.append(command(stack_dir, True))
    wall_added = statistics.median(g[0] - p[0] for p, g in zip(plain, gated, strict=True))
    cpu_added = statistics.median(g[1] - p[1] for p, g in zip(plain, gated, strict=True))
    figures.update(
        {
            "command_plain_wall_s": statistics.median(p[0] for p in plain),
            "command_policy_wall_s": statistics.median(g[0] for g in gated),
            "command_wall_added_s": wall_added,
            "command_cpu_added_s": cpu_added,
            "runs": args.runs,
            "cpu_ref_s": cpu_ref,
        }
    )
    judge = figures["judge_wall_s"]
    h.report(
        "policy",
        figures,
        [
            ("plan changes (pending)", f"{figures['changes']} ({figures['pending']})", ""),
            (
                "engine start + compile (wall)",
                f"{figures['start_and_compile_wall_s']:.3f} s",
                "overlaps refresh",
            ),
            ("judge, wall", f"{judge:.3f} s", f"<= {BUDGET_S} s: {h.verdict(judge <= BUDGET_S)}"),
            ("judge, CPU this process", f"{figures['judge_cpu_parent_s']:.3f} s", ""),
            ("judge, CPU engine process", f"{figures['judge_cpu_engine_s']:.3f} s", ""),
            ("  of which: input document", f"{figures['engine_input_cpu_s']:.3f} s", ""),
            ("  of which: queries", f"{figures['engine_queries_cpu_s']:.3f} s", ""),
            ("input document", f"{figures['input_bytes'] / 1e6:.2f} MB", ""),
            ("plan command, no policy (wall)", f"{figures['command_plain_wall_s']:.3f} s", ""),
            ("plan command, --policy (wall)", f"{figures['command_policy_wall_s']:.3f} s", ""),
            (
                "added by --policy, wall (median of pairs)",
                f"{wall_added:.3f} s",
                f"<= {BUDGET_S} s: {h.verdict(wall_added <= BUDGET_S)}",
            ),
            ("added by --policy, CPU (median of pairs)", f"{cpu_added:.3f} s", ""),
            ("cpu_ref_s", f"{cpu_ref:.3f} s", "0.18-0.21 quiet"),
        ],
    )


if __name__ == "__main__":
    main()
