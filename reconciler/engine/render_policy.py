"""The policy part of a rendered plan: each denial and warning with its rule and message.

Read from the plan JSON's ``policy`` key (docs/policy.md), present only when the run had policies.
Messages come from policy files, i.e. from users: bounded, and escaped in Markdown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["policy_markdown", "policy_text"]

MAX_SHOWN = 100  # findings listed per policy set; the JSON has them all
MAX_MESSAGE = 500


def _message(finding: Mapping[str, Any]) -> str:
    text = str(finding.get("msg", ""))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _label(result: Mapping[str, Any]) -> str:
    names = ", ".join(result.get("policies", []))
    advisory = " (advisory)" if result.get("enforcement") == "advisory" else ""
    return f"{names}{advisory}"


def policy_text(doc: Mapping[str, Any], style: Callable[[str, str], str]) -> list[str]:
    policy = doc.get("policy")
    if not policy:
        return []
    lines = [""]
    for result in policy.get("results", []):
        denials, warnings = result.get("denials", []), result.get("warnings", [])
        if denials:
            head = (
                f"Policy {_label(result)}: DENIED ({len(denials)} denial(s)); this plan must not be applied"
            )
            lines.append(style(head, "red"))
        else:
            lines.append(style(f"Policy {_label(result)}: passed", "green"))
        for finding in denials[:MAX_SHOWN]:
            lines.append(style(f"  ✗ [{finding['rule']}] {_message(finding)}", "red"))
        for finding in warnings[:MAX_SHOWN]:
            lines.append(style(f"  ! [{finding['rule']}] {_message(finding)}", "yellow"))
        hidden = max(0, len(denials) - MAX_SHOWN) + max(0, len(warnings) - MAX_SHOWN)
        if hidden:
            lines.append(f"  … and {hidden} more (see --format json)")
    return lines


def policy_markdown(doc: Mapping[str, Any], escape: Callable[[str], str]) -> list[str]:
    policy = doc.get("policy")
    if not policy:
        return []
    lines = [""]
    for result in policy.get("results", []):
        denials, warnings = result.get("denials", []), result.get("warnings", [])
        verdict = f"**denied** ({len(denials)} denial(s))" if denials else "passed"
        label = escape(_label(result)).replace("`", "'")
        lines += [f"#### Policy `{label}`: {verdict}", ""]
        if denials or warnings:
            lines += ["| | rule | message |", "|---|---|---|"]
        for finding in denials[:MAX_SHOWN]:
            lines.append(
                f"| ✗ deny | `{escape(str(finding['rule']))}` | {_cell(_message(finding), escape)} |"
            )
        for finding in warnings[:MAX_SHOWN]:
            lines.append(
                f"| ⚠ warn | `{escape(str(finding['rule']))}` | {_cell(_message(finding), escape)} |"
            )
        hidden = max(0, len(denials) - MAX_SHOWN) + max(0, len(warnings) - MAX_SHOWN)
        if hidden:
            lines.append(f"\n_… and {hidden} more; see the JSON plan._")
        lines.append("")
    return lines


def _cell(text: str, escape: Callable[[str], str]) -> str:
    """A message in a table cell: escaped, on one line, without Markdown that could run on."""
    flat = " ".join(text.split())
    for char in "\\`*_[]#!":
        flat = flat.replace(char, "\\" + char)
    return escape(flat)
