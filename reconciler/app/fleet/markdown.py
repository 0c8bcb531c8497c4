"""The fleet report as Markdown for an issue or a chat message, at most ``limit`` characters.

The summary and the table of stacks that need attention (errored, drifted, pending) come first;
then each such stack's changes, until the size cap; what does not fit is counted, not cut mid-way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.app.fleet.model import policy_denied, policy_findings, shard_label, stack_totals

__all__ = ["DEFAULT_LIMIT", "render_markdown"]

DEFAULT_LIMIT = 60_000  # GitHub issues and comments take 65,536 characters
_ICON = {"errored": "🔴 errored", "drifted": "🟠 drifted", "pending": "🔵 pending", "in_sync": "🟢 in sync"}
_VALUE_MAX = 80


def render_markdown(report: Mapping[str, Any], limit: int = DEFAULT_LIMIT) -> str:
    summary = report["summary"]
    head = [
        "## reconciler fleet drift",
        "",
        f"{summary['stacks']} stacks checked at {report['generated_at']} in {report['duration_s']:.1f}s"
        + shard_label(report)
        + ": "
        + ", ".join(f"**{summary[s]}** {_ICON[s].split(' ', 1)[1]}" for s in _ICON),
        "",
        "| resources | drifted | pending | in sync |",
        "|---|---:|---:|---:|",
        "| all stacks | {drifted} | {pending} | {in_sync} |".format(**summary["resources"]),
        "",
    ]
    if report.get("missing_shards"):
        missing = ", ".join(str(i) for i in report["missing_shards"])
        head += [f"**Incomplete: no report from shard(s) {missing}.**", ""]
    if summary.get("policy_denied"):
        head += [f"**Denied by policy: {summary['policy_denied']} stack(s).**", ""]
    attention = [s for s in report["stacks"] if s["status"] != "in_sync" or policy_findings(s)]
    if not attention:
        return "\n".join([*head, "Every stack is in sync."]) + "\n"
    lines = [*head, "| stack | status | drifted | pending | |", "|---|---|---:|---:|---|"]
    size = sum(len(line) + 1 for line in lines)
    for listed, stack in enumerate(attention):  # the table takes at most half the cap
        counts = stack_totals(stack)
        note = _cell((stack["error"] or "").split("\n")[0] or ", ".join(stack["kinds"]), 120)
        if policy_denied(stack):
            note = f"⛔ denied by policy; {note}"
        status = _ICON[stack["status"]]
        row = f"| `{stack['name']}` | {status} | {counts['drifted']} | {counts['pending']} | {note} |"
        if size + len(row) > limit // 2:
            lines.append(f"| _… {len(attention) - listed} more_ | | | | |")
            break
        lines.append(row)
        size += len(row) + 1
    lines.append("")
    shown = 0
    for stack in attention:
        block = _stack_block(stack)
        cost = sum(len(line) + 1 for line in block)
        if size + cost > limit - 200:
            break
        lines += block
        size += cost
        shown += 1
    if shown < len(attention):
        lines.append(
            f"_… the changes of {len(attention) - shown} more stack(s) are not shown here "
            f"(size cap {limit:,} characters); see the JSON or HTML report._"
        )
    text = "\n".join(lines) + "\n"
    return text if len(text) <= limit else text[: limit - 40] + "\n\n_… report cut at the size cap._\n"


def _stack_block(stack: Mapping[str, Any]) -> list[str]:
    lines = [f"### `{stack['name']}` — {_ICON[stack['status']]}", ""]
    if stack["error"]:
        return [*lines, "```", stack["error"], "```", ""]
    for kind, finding in policy_findings(stack):
        mark = "⛔ policy denies" if kind == "deny" else "⚠ policy warns"
        lines.append(f"- {mark} (`{_code(finding['rule'])}`): {_escaped(finding['msg'])}")
    for change in stack["changes"]:
        lines.append(
            f"- `{change['address']}` {change['action']} ({', '.join(change['causes'])}): "
            f"{_cell(change['reason'])}"
        )
        for field in change["fields"]:
            before, after = _value(field["before"]), _value(field["after"])
            lines.append(f"  - `{field['path']}` ({field['cause']}): {before} → {after}")
    return [*lines, ""]


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "`" + _cell(text, _VALUE_MAX).replace("`", "'") + "`"


def _code(text: str) -> str:
    return _cell(text, 100).replace("`", "'")


def _escaped(text: str) -> str:
    """A message from a policy file (a user's words): no Markdown or HTML of its own."""
    flat = " ".join(str(text).split())
    flat = flat if len(flat) <= 500 else flat[:499] + "…"
    for char in "\\`*_[]#!|":
        flat = flat.replace(char, "\\" + char)
    return flat.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"
