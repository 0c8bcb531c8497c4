"""``--target`` / ``--exclude``: narrow a plan to some addresses, keeping it applicable.

An ADDR is ``kind.name`` or a whole ``kind``; a resource that stands for many objects (a ``files``
folder: ``files.inputs/a.csv``) is selected whole by its own address (``files.inputs``).
A target brings in the changes it depends on
(they must happen first), and an exclusion takes out the changes that depend on it (they
cannot happen without it); both are said in the plan's warnings, so nothing is dropped
silently (hashicorp/terraform#2253 asked for -exclude; this is it, with its consequences shown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from reconciler.engine.deciding.changes import Change, Plan

__all__ = ["select"]


def _matches(change: Change, patterns: set[str]) -> bool:
    base = change.deposed_of or change.address
    return base in patterns or change.kind in patterns or base.split("/", 1)[0] in patterns


def select(plan: Plan, targets: Iterable[str] = (), excludes: Iterable[str] = ()) -> Plan:
    targets, excludes = set(targets), set(excludes)
    if not targets and not excludes:
        return plan
    known = {c.address for c in plan.changes} | {c.kind for c in plan.changes}
    known |= {c.address.split("/", 1)[0] for c in plan.changes}
    by_address = {c.address: c for c in plan.changes}
    warnings = list(plan.warnings)
    for address in sorted(a for a in targets | excludes if a not in known):
        # Not an error: after a targeted apply the target may be gone, and the check re-plans.
        warnings.append(f"{address} matches nothing in this plan (not declared, not in state)")
    keep = set(by_address)
    if targets:
        chosen = {a for a, c in by_address.items() if _matches(c, targets)}
        pulled: set[str] = set()
        stack = [d for a in chosen for d in by_address[a].depends_on]
        while stack:
            dep = stack.pop()
            if dep in chosen or dep in pulled or dep not in by_address:
                continue
            pulled.add(dep)
            stack.extend(by_address[dep].depends_on)
        for dep in sorted(pulled):
            if by_address[dep].pending:
                warnings.append(f"{dep} is included because a target depends on it")
        keep = chosen | pulled
    if excludes:
        dropped = {a for a in keep if _matches(by_address[a], excludes)}
        changed = True
        while changed:
            changed = False
            for address in sorted(keep - dropped):
                blockers = [d for d in by_address[address].depends_on if d in dropped]
                if blockers:
                    dropped.add(address)
                    changed = True
                    if by_address[address].pending:
                        warnings.append(f"{address} is left out because it depends on {', '.join(blockers)}")
        keep -= dropped
    changes = tuple(c for c in plan.changes if c.address in keep)
    warnings.append("this plan is partial (--target/--exclude): other changes may be pending")
    return replace(plan, changes=changes, forget=() if targets else plan.forget, warnings=tuple(warnings))
