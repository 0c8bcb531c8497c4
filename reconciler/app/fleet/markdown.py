"""The fleet report as Markdown for an issue or a chat message, at most ``limit`` characters.

Every name, message and value goes in through ``reconciler.common.escape`` (one function per
Markdown context), so a hostile stack name or API value cannot break a table or add markup.
The summary and the table of stacks that need attention (errored, drifted, pending) come first;
then each such stack's changes, until the size cap; what does not fit is counted, not cut mid-way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.app.fleet.model import policy_denied, policy_findings, shard_label, stack_totals
from reconciler.common.escape import clip, md_cell_code, md_code, md_fence, md_text
from reconciler.common.words import plural

__all__ = ["DEFAULT_LIMIT", "render_markdown"]

DEFAULT_LIMIT = 60_000  # GitHub issues and comments take 65,536 characters
_ICON = {"errored": "🔴 errored", "drifted": "🟠 drifted", "pending": "🔵 pending", "in_sync": "🟢 in sync"}
_VALUE_MAX = 80


def render_markdown(report: Mapping[str, Any], limit: int = DEFAULT_LIMIT) -> str:
    summary = report["summary"]
    head = [
        "## reconciler fleet drift",
        "",
        f"{plural(summary['stacks'], 'stack')} checked at {md_text(report['generated_at'])} "
        f"in {report['duration_s']:.1f}s"
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
        shards = "shards" if len(report["missing_shards"]) > 1 else "shard"
        head += [f"**Incomplete: no report from {shards} {missing}.**", ""]
    if summary.get("policy_denied"):
        head += [f"**Denied by policy: {plural(summary['policy_denied'], 'stack')}.**", ""]
    attention = [s for s in report["stacks"] if s["status"] != "in_sync" or policy_findings(s)]
    if not attention:
        return "\n".join([*head, "Every stack is in sync."]) + "\n"
    lines = [*head, "| stack | status | drifted | pending | |", "|---|---|---:|---:|---|"]
    size = sum(len(line) + 1 for line in lines)
    for listed, stack in enumerate(attention):  # the table takes at most half the cap
        counts = stack_totals(stack)
        note = md_text(clip((stack["error"] or "").split("\n")[0] or ", ".join(stack["kinds"]), 120))
        if policy_denied(stack):
            note = f"⛔ denied by policy; {note}"
        status = _ICON[stack["status"]]
        name = md_cell_code(stack["name"])
        row = f"| {name} | {status} | {counts['drifted']} | {counts['pending']} | {note} |"
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
            f"_… the changes of {plural(len(attention) - shown, 'more stack')} are not shown here "
            f"(size cap {limit:,} characters); see the JSON or HTML report._"
        )
    text = "\n".join(lines) + "\n"
    return text if len(text) <= limit else text[: limit - 40] + "\n\n_… report cut at the size cap._\n"


def _stack_block(stack: Mapping[str, Any]) -> list[str]:
    lines = [f"### {md_code(stack['name'])} — {_ICON[stack['status']]}", ""]
    if stack["error"]:
        return [*lines, md_fence(stack["error"]), ""]
    for kind, finding in policy_findings(stack):
        mark = "⛔ policy denies" if kind == "deny" else "⚠ policy warns"
        lines.append(
            f"- {mark} ({md_code(clip(finding['rule'], 100))}): {md_text(clip(finding['msg'], 500))}"
        )
    for change in stack["changes"]:
        causes = md_text(", ".join(change["causes"]))
        lines.append(
            f"- {md_code(change['address'])} {md_text(change['action'])} ({causes}): "
            f"{md_text(clip(change['reason'], 200))}"
        )
        for field in change["fields"]:
            before, after = _value(field["before"]), _value(field["after"])
            lines.append(f"  - {md_code(field['path'])} ({md_text(field['cause'])}): {before} → {after}")
    return [*lines, ""]


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return md_code(clip(text, _VALUE_MAX))
