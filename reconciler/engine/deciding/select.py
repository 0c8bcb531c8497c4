"""``--target`` / ``--exclude``: narrow a plan to some addresses, keeping it applicable.

An ADDR is ``kind.name`` or a whole ``kind``; a resource that stands for many objects (a ``files``
folder: ``files.inputs/a.csv``) is selected whole by its own address (``files.inputs``).
A target brings in the changes it depends on
(they must happen first), and an exclusion takes out the changes that depend on it (they
cannot happen without it); both are said in the plan's warnings, so nothing is dropped
silently (hashicorp/terraform#2253 asked for -exclude; this is it, with its consequences shown).

A typo is never a green CI job that did nothing: an ADDR naming no kind (``core.x``: the kind is
``cores``) is refused before anything is read (:func:`check_selectors`), and one that matches
nothing in the plan (not declared, not in state) is refused once the plan is made, each with a
did-you-mean. Only the re-plan that checks an apply (``strict=False``) lets a target be gone: a
targeted delete removes what it named.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import replace

from reconciler.engine.deciding.changes import Change, Plan
from reconciler.errors import PlanError

__all__ = ["SelectionError", "check_selectors", "select"]


class SelectionError(PlanError):
    """A --target / --exclude ADDR that names no kind, or matches nothing in the plan."""


def _suggestion(text: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(text, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def check_selectors(option: str, addresses: Iterable[str], kinds: Iterable[str]) -> None:
    """Each ADDR of ``option`` must be ``kind`` or ``kind.name`` of a known kind.

    The first dotted part is what an ADDR is parsed by: today always a kind; a scope prefix such as
    ``module.NAME`` would be recognised here, before the kind, and stripped."""
    known = sorted(kinds)
    for address in addresses:
        kind, dot, name = address.partition(".")
        if kind in known and (not dot or name):
            continue
        if kind in known:
            raise SelectionError(f"{option} {address}: expected {kind} or {kind}.NAME")
        guess = difflib.get_close_matches(kind, known, n=1, cutoff=0.5)
        hint = f"; did you mean {guess[0]}{dot}{name}?" if guess else ""
        raise SelectionError(
            f"{option} {address}: there is no kind {kind!r}{hint} (kinds: {', '.join(known)})"
        )


def _matches(change: Change, patterns: set[str]) -> bool:
    base = change.deposed_of or change.address
    return base in patterns or change.kind in patterns or base.split("/", 1)[0] in patterns


def select(
    plan: Plan, targets: Iterable[str] = (), excludes: Iterable[str] = (), *, strict: bool = True
) -> Plan:
    """The plan narrowed to ``targets`` minus ``excludes``; with ``strict``, an ADDR that matches
    nothing is a :class:`SelectionError` (without: a warning, for the re-plan after an apply)."""
    targets, excludes = set(targets), set(excludes)
    if not targets and not excludes:
        return plan
    known = {c.address for c in plan.changes} | {c.kind for c in plan.changes}
    known |= {c.address.split("/", 1)[0] for c in plan.changes}
    by_address = {c.address: c for c in plan.changes}
    warnings = list(plan.warnings)
    for option, given in (("--target", targets), ("--exclude", excludes)):
        for address in sorted(a for a in given if a not in known):
            words = f"{address} matches nothing in this plan (not declared, not in state)"
            if strict:
                raise SelectionError(f"{option} {words}{_suggestion(address, known)}")
            warnings.append(words)
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
