"""The policy part of a rendered plan: each denial and warning with its rule and message.

Read from the plan JSON's ``policy`` key (docs/policy.md), present only when the run had policies.
Messages come from policy files, i.e. from users: bounded, and escaped in Markdown
(``common/escape.py``: docs/escaping.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.common.escape import clip, md_cell_code, md_code, md_text, shown
from reconciler.common.words import plural

__all__ = ["policy_markdown", "policy_text"]

MAX_SHOWN = 100  # findings listed per policy set; the JSON has them all
MAX_MESSAGE = 500


def _message(finding: Mapping[str, Any]) -> str:
    return clip(str(finding.get("msg", "")), MAX_MESSAGE)


def _terminal(text: str) -> str:
    """A user's words for a terminal: no control character (an escape sequence would be obeyed)."""
    return shown(text)


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
            denied = plural(len(denials), "denial")
            head = f"Policy {_label(result)}: DENIED ({denied}); this plan must not be applied"
            lines.append(style(head, "red"))
        else:
            lines.append(style(f"Policy {_terminal(_label(result))}: passed", "green"))
        for finding in denials[:MAX_SHOWN]:
            lines.append(style(f"  ✗ [{_terminal(finding['rule'])}] {_terminal(_message(finding))}", "red"))
        for finding in warnings[:MAX_SHOWN]:
            lines.append(
                style(f"  ! [{_terminal(finding['rule'])}] {_terminal(_message(finding))}", "yellow")
            )
        hidden = max(0, len(denials) - MAX_SHOWN) + max(0, len(warnings) - MAX_SHOWN)
        if hidden:
            lines.append(f"  … and {hidden} more (see --format json)")
    return lines


def policy_markdown(doc: Mapping[str, Any]) -> list[str]:
    policy = doc.get("policy")
    if not policy:
        return []
    lines = [""]
    for result in policy.get("results", []):
        denials, warnings = result.get("denials", []), result.get("warnings", [])
        verdict = f"**denied** ({plural(len(denials), 'denial')})" if denials else "passed"
        lines += [f"#### Policy {md_code(_label(result))}: {verdict}", ""]
        if denials or warnings:
            lines += ["| | rule | message |", "|---|---|---|"]
        for mark, findings in (("✗ deny", denials), ("⚠ warn", warnings)):
            for finding in findings[:MAX_SHOWN]:
                rule = md_cell_code(clip(str(finding["rule"]), 100))
                lines.append(f"| {mark} | {rule} | {md_text(_message(finding))} |")
        hidden = max(0, len(denials) - MAX_SHOWN) + max(0, len(warnings) - MAX_SHOWN)
        if hidden:
            lines.append(f"\n_… and {hidden} more; see the JSON plan._")
        lines.append("")
    return lines
