"""CPU only: what variables, for_each and modules cost to load (issue 29).

    python bench/modules.py [--resources 10000] [--stacks 200] [--per-stack 25] [--runs 5]

1. ``expand``: ``load_stack`` of 10,000 cores written out, against the same 10,000 cores from a
   module with ``for_each`` over a map (the map written in the calling stack: name -> precision).
   Target: the module at most 1.2x the written-out stack.
2. ``fleet``: loading 200 stacks of 25 cores each, as ``drift --stacks`` does (one process, one
   ``load_stack`` per stack), written out, against 200 stacks that each call one module (a
   ``for_each`` over its default map of 25 sizes). Target: the module fleet no slower (<= 1.0x).
   Loading is the only part of a fleet run that differs between the two: the plans, the HTTP and
   the reports are of the same resources.

Each figure is the least process CPU time of ``--runs`` runs, the two sides alternating (A, B, A,
B, …) so that a noisy neighbour slows both; the module cache is emptied before each run, so the
module is read once per run, as once per process.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path

import _harness as h
import yaml

CORE = "class: C0, microarchitecture: Athens, memory_size: 256000, correlation_tracking: Autocorrelation"


def written_out(directory: Path, names: list[str], precisions: list[int]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "cores:"]
    lines += [f"  {n}: {{ {CORE}, precision: {p} }}" for n, p in zip(names, precisions, strict=True)]
    (directory / "stack.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def module(directory: Path, default: dict[str, int] | None) -> Path:
    """A module of one for_each resource: ``${var.prefix}${each.key}``, precision ``${each.value}``."""
    directory.mkdir(parents=True, exist_ok=True)
    sizes = (
        f", default: {yaml.safe_dump(default, default_flow_style=True, sort_keys=False).strip()}"
        if default
        else ""
    )
    text = (
        "version: 1\nvariables:\n  prefix: { type: string, default: '' }\n"
        f"  precisions: {{ type: map(number){sizes} }}\n"
        'cores:\n  "${var.prefix}${each.key}":\n    for_each: "${var.precisions}"\n'
        + "".join(f"    {field.strip()}\n" for field in CORE.replace(": ", ": ").split(","))
        + '    precision: "${each.value}"\n'
    )
    (directory / "stack.yaml").write_text(text, encoding="utf-8")
    return directory


def calling(directory: Path, source: str, prefix: str, precisions: dict[str, int] | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "modules:", f"  cores: {{ source: {source}, vars: {{ prefix: '{prefix}' }} }}"]
    if precisions is not None:
        lines[-1] = f"  cores:\n    source: {source}\n    vars:\n      prefix: '{prefix}'\n      precisions:"
        lines += [f"        {n}: {p}" for n, p in precisions.items()]
    (directory / "stack.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def least_cpu(runs: int, sides: dict[str, Callable[[], int]]) -> dict[str, float]:
    from reconciler.config import modules

    best = dict.fromkeys(sides, float("inf"))
    for _ in range(runs):
        for name, run in sides.items():
            modules._cache.clear()
            gc.collect()
            started = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--per-stack", type=int, default=25)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from reconciler.cli.common import collect_garbage_less
    from reconciler.config import load_stack

    collect_garbage_less()  # as the reconciler command does
    with h.workdir("modules") as root:
        names = [f"c-{i}" for i in range(args.resources)]
        precisions = [64 + i % 64 for i in range(args.resources)]
        plain = written_out(root / "expand-plain", names, precisions)
        module(root / "expand-module" / "modules" / "cores", None)
        expanded = calling(
            root / "expand-module", "./modules/cores", "", dict(zip(names, precisions, strict=True))
        )
        plain_loaded = load_stack([plain], {})
        module_loaded = load_stack([expanded], {})
        same = [(r.address, dict(r.attrs)) for r in plain_loaded.resources] == [
            (r.address, dict(r.attrs)) for r in module_loaded.resources
        ]
        assert same and len(module_loaded.resources) == args.resources, "the two stacks must be the same"
        expand = least_cpu(
            args.runs,
            {
                "written_out": lambda: len(load_stack([plain], {}).resources),
                "module_for_each": lambda: len(load_stack([expanded], {}).resources),
            },
        )

        sizes = {f"s{i}": 64 + i for i in range(args.per_stack)}
        fleet_plain = [
            written_out(
                root / "fleet-plain" / f"stack-{n}", [f"t{n}-{k}" for k in sizes], list(sizes.values())
            )
            for n in range(args.stacks)
        ]
        module(root / "fleet-module" / "modules" / "team", sizes)
        fleet_module = [
            calling(root / "fleet-module" / f"stack-{n}", "../modules/team", f"t{n}-", None)
            for n in range(args.stacks)
        ]
        assert [r.address for s in fleet_plain for r in load_stack([s], {}).resources] == [
            r.address for s in fleet_module for r in load_stack([s], {}).resources
        ]
        fleet = least_cpu(
            args.runs,
            {
                "written_out": lambda: sum(len(load_stack([s], {}).resources) for s in fleet_plain),
                "module": lambda: sum(len(load_stack([s], {}).resources) for s in fleet_module),
            },
        )

    expand_ratio = expand["module_for_each"] / expand["written_out"]
    fleet_ratio = fleet["module"] / fleet["written_out"]
    h.report(
        "modules",
        {
            "resources": args.resources,
            "expand_written_out_cpu_s": round(expand["written_out"], 3),
            "expand_module_cpu_s": round(expand["module_for_each"], 3),
            "expand_ratio": round(expand_ratio, 3),
            "fleet_stacks": args.stacks,
            "fleet_per_stack": args.per_stack,
            "fleet_written_out_cpu_s": round(fleet["written_out"], 3),
            "fleet_module_cpu_s": round(fleet["module"], 3),
            "fleet_ratio": round(fleet_ratio, 3),
        },
        [
            (f"load {args.resources:,} written out (CPU s)", f"{expand['written_out']:.3f}", ""),
            (f"load {args.resources:,} from a module's for_each", f"{expand['module_for_each']:.3f}", ""),
            ("  module / written out", f"{expand_ratio:.2f}x", f"<= 1.2x  {h.verdict(expand_ratio <= 1.2)}"),
            (f"load {args.stacks} stacks x {args.per_stack} written out", f"{fleet['written_out']:.3f}", ""),
            (f"load {args.stacks} stacks calling one module", f"{fleet['module']:.3f}", ""),
            ("  module / written out", f"{fleet_ratio:.2f}x", f"<= 1.0x  {h.verdict(fleet_ratio <= 1.0)}"),
        ],
    )


if __name__ == "__main__":
    main()
