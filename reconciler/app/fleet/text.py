"""The fleet report for a person at a terminal (``--format text``): a summary line, then one aligned
table, problems first (errored, drifted, pending, then in sync), a colour per status, each problem's
next command, an errored stack's first error line under it. In-sync stacks beyond ``IN_SYNC_LISTED``
are counted, not listed, so the problems stay on the screen. Markdown is ``--format markdown``.

Names and messages are shown through ``reconciler.common.escape.shown``: a control character in a
stack's name or an API's message cannot move the cursor or change the terminal's colours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.app.fleet.model import (
    STATUSES,
    by_severity,
    next_command,
    policy_denied,
    shard_label,
    stack_totals,
)
from reconciler.common.escape import clip, shown
from reconciler.common.words import plural

__all__ = ["IN_SYNC_LISTED", "render_text"]

IN_SYNC_LISTED = 20
LABEL = {"errored": "errored", "drifted": "drifted", "pending": "pending", "in_sync": "in sync"}
COLOUR = {"errored": "red", "drifted": "yellow", "pending": "cyan", "in_sync": "green"}
_HEADERS = ("STATUS", "STACK", "DRIFTED", "PENDING", "IN SYNC", "NEXT")
_NAME_MAX = 60
_ERROR_MAX = 160

Style = Callable[[str, str], str]


def render_text(report: Mapping[str, Any], style: Style = lambda text, _name: text) -> str:
    summary = report["summary"]
    counts = ", ".join(
        style(f"{summary[s]} {LABEL[s]}", COLOUR[s]) if summary[s] else f"0 {LABEL[s]}" for s in STATUSES
    )
    lines = [
        style("reconciler fleet drift", "bold")
        + f": {plural(summary['stacks'], 'stack')} checked at {report['generated_at']} in "
        f"{report['duration_s']:.1f}s{shown(shard_label(report))}: {counts}",
    ]
    if report.get("missing_shards"):
        missing = ", ".join(str(i) for i in report["missing_shards"])
        shards = "shards" if len(report["missing_shards"]) > 1 else "shard"
        lines.append(style(f"Incomplete: no report from {shards} {missing}.", "red"))
    if summary.get("policy_denied"):
        lines.append(style(f"Denied by policy: {plural(summary['policy_denied'], 'stack')}.", "red"))
    stacks = by_severity(report["stacks"])
    in_sync = [s for s in stacks if s["status"] == "in_sync"]
    listed = [s for s in stacks if s["status"] != "in_sync"]
    listed += in_sync if len(in_sync) <= IN_SYNC_LISTED else []
    if not stacks:
        return "\n".join(lines) + "\n"
    rows = [_row(stack, report.get("checked_with")) for stack in listed]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    lines.append("")
    lines.append(_line(_HEADERS, widths, style=lambda cell, _i: style(cell, "bold")))
    for stack, row in zip(listed, rows, strict=True):
        colour = COLOUR[stack["status"]]

        def status_coloured(cell: str, i: int, colour: str = colour) -> str:
            return style(cell, colour) if i == 0 else cell

        lines.append(_line(row, widths, style=status_coloured))
        if stack["error"]:
            first = shown(clip(stack["error"].split("\n", 1)[0], _ERROR_MAX))
            lines.append(" " * (widths[0] + 2) + style(first, "red"))
        if policy_denied(stack):
            lines.append(
                " " * (widths[0] + 2) + style("denied by policy: applying it would be refused", "red")
            )
    if len(listed) < len(stacks):
        more = len(stacks) - len(listed)
        lines.append(f"… and {plural(more, 'more stack')} in sync (--format json or html lists every stack)")
    return "\n".join(lines) + "\n"


def _row(stack: Mapping[str, Any], how: Mapping[str, Any] | None) -> tuple[str, ...]:
    name = shown(clip(stack["name"], _NAME_MAX))
    numbers: tuple[str, ...] = ("?", "?", "?")  # errored: the check failed, unknown (not zero)
    if stack["status"] != "errored":
        totals = stack_totals(stack)
        numbers = tuple(str(totals[s]) for s in ("drifted", "pending", "in_sync"))
    return (LABEL[stack["status"]], name, *numbers, shown(next_command(stack, how) or ""))


def _line(cells: tuple[str, ...], widths: list[int], *, style: Callable[[str, int], str]) -> str:
    """Columns padded before styling (colour codes take no room on screen); numbers right-aligned."""
    padded = [
        cell.rjust(width) if 2 <= i <= 4 else cell.ljust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(style(cell, i) for i, cell in enumerate(padded)).rstrip()
