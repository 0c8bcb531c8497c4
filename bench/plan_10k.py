"""CPU only: plan 10,000 resources at zero latency (no HTTP at all).

    python bench/plan_10k.py [--resources 10000] [--drift 0.05]

Stages, each timed: write a generated YAML stack; load + validate it (``load_stack``); build a
synthetic LiveState (LiveObjects made directly, as the providers' parsers would) and state, with
``--drift`` of the objects changed so the diff has work to do; ``plan``; ``Plan.to_json``; render
text and JSON. Peak RSS from ``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import _harness as h


def synthetic_live(resources: list[Any], drift: float) -> tuple[Any, Any, int]:
    """Live objects matching the desired resources (every ``1/drift``-th one changed), and state."""
    from reconciler.kinds import KINDS_BY_NAME
    from reconciler.state.base import StateEntry, StateSnapshot, digest
    from reconciler.values import LiveObject, LiveState, Ref

    live = LiveState()
    entries = {}
    every = round(1 / drift) if drift else 0
    changed = 0
    for i, res in enumerate(resources):
        kind = KINDS_BY_NAME[res.kind]
        attrs = {k: (v.name if isinstance(v, Ref) else v) for k, v in res.create_attrs.items()}
        if every and i % every == 0 and res.kind == "cores":
            attrs["precision"] = attrs["precision"] + 1  # an in-place update
            changed += 1
        remote_id = f"{res.kind[:3]}_{i:032x}"
        key = kind.natural_key(res.name, res.create_attrs)
        live.add(LiveObject(res.kind, remote_id, key, attrs, res.name))
        entries[res.address] = StateEntry(res.kind, remote_id, key, digest(res.attrs))
    return live, StateSnapshot(entries), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--drift", type=float, default=0.05)
    args = parser.parse_args()
    from reconciler.cli.common import collect_garbage_less

    collect_garbage_less()  # as the reconciler command does
    t = time.perf_counter()
    from reconciler.cli.console import styler
    from reconciler.config import load_stack
    from reconciler.engine.deciding.plan import plan
    from reconciler.engine.presenting.render import render_json, render_text

    imports_s = time.perf_counter() - t
    kinds = [k for k in h.kinds_in_use() if k != "package_instances"] + ["package_instances"]
    counts = h.spread(args.resources, kinds)
    stages: dict[str, float] = {}
    with h.workdir("10k") as work:
        t = time.perf_counter()
        path = h.write_stack(work / "stack", h.stack_doc(counts))
        stages["write_yaml"] = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
        gc.collect()
        rss_before = h.peak_rss_mb()

        t = time.perf_counter()
        loaded = load_stack([work / "stack"], {})
        stages["load_validate"] = time.perf_counter() - t

    t = time.perf_counter()
    live, state, changed = synthetic_live(loaded.resources, args.drift)
    stages["build_live"] = time.perf_counter() - t

    t = time.perf_counter()
    the_plan = plan(loaded.resources, live, state)
    stages["plan"] = time.perf_counter() - t

    t = time.perf_counter()
    doc = the_plan.to_json()
    stages["to_json"] = time.perf_counter() - t

    t = time.perf_counter()
    text = render_text(doc, styler())
    stages["render_text"] = time.perf_counter() - t

    t = time.perf_counter()
    rendered = render_json(doc)
    stages["render_json"] = time.perf_counter() - t

    summary = the_plan.summary()
    if len(the_plan.changes) != args.resources or summary["update"] != changed:
        raise SystemExit(f"unexpected plan: {summary} (expected {changed} updates of {args.resources})")
    measured = ("load_validate", "plan", "to_json", "render_text", "render_json")
    total = sum(stages[s] for s in measured)
    rss = h.peak_rss_mb()
    figures = {
        "resources": args.resources,
        "by_kind": counts,
        "yaml_mb": round(size_mb, 2),
        "imports_s": round(imports_s, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "total_s": round(total, 3),
        "summary": summary,
        "text_kb": len(text) // 1024,
        "json_kb": len(rendered) // 1024,
        "peak_rss_mb": round(rss, 1),
        "rss_before_load_mb": round(rss_before, 1),
    }
    rows = [
        ("resources (by kind)", f"{args.resources}", ", ".join(f"{k}={n}" for k, n in counts.items())),
        ("imports", f"{imports_s:.3f} s", "(not in the total)"),
        ("load + validate", f"{stages['load_validate']:.3f} s", f"{size_mb:.1f} MB of YAML"),
        ("plan", f"{stages['plan']:.3f} s", f"{summary['update']} updates, {summary['no-op']} no-ops"),
        ("Plan.to_json", f"{stages['to_json']:.3f} s", ""),
        ("render text", f"{stages['render_text']:.3f} s", f"{len(text) // 1024} KiB"),
        ("render JSON", f"{stages['render_json']:.3f} s", f"{len(rendered) // 1024} KiB"),
        ("total (load .. render)", f"{total:.3f} s", f"target <= 3 s: {h.verdict(total <= 3)}"),
        ("peak RSS", f"{rss:.0f} MB", f"target <= 400 MB: {h.verdict(rss <= 400)}"),
    ]
    h.report("plan_10k", figures, rows)


if __name__ == "__main__":
    main()
