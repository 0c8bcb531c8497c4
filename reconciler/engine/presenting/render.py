"""Render a plan for people and machines. Every renderer reads the plan's versioned JSON
(``Plan.to_json()``), so what a person reads and what CI parses cannot disagree."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.common.escape import clip, html_text, md_cell_code, md_text
from reconciler.common.words import plural
from reconciler.engine.presenting.render_outside import outside_markdown, outside_text
from reconciler.engine.presenting.render_policy import policy_markdown, policy_text
from reconciler.engine.presenting.render_summary import Summary, summarised

__all__ = ["render_json", "render_markdown", "render_policy_markdown", "render_text", "summary_line"]

SYMBOL = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "adopt": " ",
    "move": " ",
    "state-only": " ",
    "no-op": " ",
}
VERB = {
    "create": "will be created",
    "update": "will be updated in place",
    "replace": "must be replaced",
    "delete": "will be destroyed",
    "adopt": "will be adopted (recorded in state, no API change)",
    "move": "will be moved in state from {moved_from} (no API change)",
    "state-only": "will be updated in state only (no API change)",
    "no-op": "is up to date",
}
COLOUR = {
    "create": "green",
    "update": "yellow",
    "replace": "magenta",
    "delete": "red",
    "adopt": "cyan",
    "move": "cyan",
    "state-only": "cyan",
    "no-op": "cyan",
}
Style = Callable[[str, str], str]


def _plain(text: str, _colour: str) -> str:
    return text


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _shown(field: Mapping[str, Any], side: str) -> str:
    """A field's before/after for display; placeholders are marked in the JSON, never guessed."""
    if field.get("sensitive"):
        return "(sensitive)" if side == "after" and field.get("before") is None else "(sensitive, changed)"
    if side == "after" and field.get("after_unknown"):
        return "(known after apply)"
    return _value(field[side])


def _op(field: Mapping[str, Any]) -> str:
    """``add``, ``remove`` or ``change``; a plan saved before ``op`` existed: guessed from nulls."""
    op = field.get("op")
    if op:
        return str(op)
    return "add" if field["before"] is None else "remove" if field["after"] is None else "change"


def _adopting(doc: Mapping[str, Any]) -> int:
    """Objects found by natural key that apply records: ``adopt`` actions, and updates or replaces
    of an object adopted on the way."""
    return sum(1 for c in doc["changes"] if c.get("adopt"))


def summary_line(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    line = (
        f"Plan: {s['create']} to add, {s['update']} to change, {s['replace']} to replace, "
        f"{s['delete']} to destroy."
    )
    adopting = _adopting(doc)
    if adopting:
        line += f" {adopting} to adopt."
    if s.get("move"):
        line += f" {s['move']} to move in state."
    if s.get("state-only"):
        line += f" {s['state-only']} to update in state only."
    return line


# What a rendering is titled: a plan (plan, apply, destroy) or a drift report (drift: read-only).
TITLES = {
    "plan": ("No changes.", "reconciler will perform the following actions:", "### reconciler plan"),
    "destroy": ("Nothing to destroy.", "reconciler will destroy the following:", "### reconciler destroy"),
    "drift": (
        "No drift.",
        "Drift report: live state differs from the configuration; `reconciler apply` would do this:",
        "### reconciler drift report",
    ),
}

# Why there is nothing to do, said after TITLES[report][0].
NOTHING_BECAUSE = {
    "plan": "Live state matches the configuration.",
    "drift": "Live state matches the configuration.",
    "destroy": "The state records no resource of this stack.",
}


def render_text(
    doc: Mapping[str, Any], style: Style = _plain, verbose: bool = False, report: str = "plan"
) -> str:
    changes = [c for c in doc["changes"] if c["pending"]]
    none, title, _ = TITLES[report]
    out: list[str] = []
    if not changes:
        out.append(style(none, "green") + " " + NOTHING_BECAUSE[report])
    else:
        out.extend(outside_text(doc, style, _shown))
        out.append(title)
        for item in summarised(changes):
            out.append("")
            if isinstance(item, Summary):
                out.append(style(f"  # {item.line()}", "bold"))
                out.append(style(f"{SYMBOL[item.action]:>3} {item.first()}", COLOUR[item.action]))
                continue
            out.extend(_text_change(item, style))
        out.append("")
        out.append(style(summary_line(doc), "bold"))
    out.extend(_unmanaged_text(doc))
    for warning in doc.get("warnings", []):
        out.append(style(f"Warning: {warning}", "yellow"))
    for error in doc.get("errors", []):
        out.append(style(f"Error: {error}", "red"))
    out.extend(policy_text(doc, style))
    return "\n".join(out) + "\n"


def _text_change(change: Mapping[str, Any], style: Style) -> list[str]:
    action = change["action"]
    colour = COLOUR[action]
    verb = VERB[action].format(moved_from=change.get("moved_from"))
    cause = change.get("cause")
    head = f"  # {change['address']} {verb}"
    if change.get("adopt") and action != "adopt":
        head += " (adopting the existing object)"
    reason = change["reason"]
    if cause == "drift":
        reason = f"drift: {reason}"
    if change.get("module"):
        head += f" (from {change['module']})"
    lines = [style(head, "bold") + f" ({reason})"]
    ident = f"  [id={change['remote_id']}]" if change.get("remote_id") else ""
    lines.append(style(f"{SYMBOL[action]:>3} {change['address']}", colour) + ident)
    if change.get("refused"):
        lines.append(style("      ! refused (see the error below)", "red"))
    if change.get("replace_order") == "create-then-delete":
        lines.append("      (create_before_destroy: the new object is created before the old one is deleted)")
    fields = change["fields"]
    width = max((len(f["path"]) for f in fields), default=0)
    for f in fields:
        name = f["path"].ljust(width)
        if action == "create":
            lines.append(style(f"      + {name} = {_shown(f, 'after')}", colour))
            continue
        suffix = style("  # forces replacement", "magenta") if f["forces_replacement"] else ""
        if f["sensitive"]:
            lines.append(style(f"      ~ {name} = (sensitive, changed)", "yellow") + suffix)
        elif _op(f) == "add":
            lines.append(style(f"      + {name} = {_shown(f, 'after')}", "green") + suffix)
        elif _op(f) == "remove":
            lines.append(style(f"      - {name} = {_shown(f, 'before')}", "red") + suffix)
        else:
            lines.append(
                style(f"      ~ {name} = {_shown(f, 'before')} → {_shown(f, 'after')}", "yellow") + suffix
            )
    return lines


def _unmanaged_text(doc: Mapping[str, Any]) -> list[str]:
    unmanaged = doc.get("unmanaged", [])
    if not unmanaged:
        return []
    lines = [
        "",
        f"Unmanaged: {plural(len(unmanaged), 'live object')} not in the configuration nor in state "
        "(never touched):",
    ]
    for obj in unmanaged[:50]:
        name = f" {obj['name']!r}" if obj.get("name") else ""
        lines.append(f"  {obj['kind']} {obj['remote_id']}{name}")
    if len(unmanaged) > 50:
        lines.append(f"  … and {len(unmanaged) - 50} more (see --format json)")
    return lines


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_markdown(doc: Mapping[str, Any], max_chars: int = 60_000, report: str = "plan") -> str:
    """A pull-request comment: a summary table, then one collapsible section per change."""
    s = doc["summary"]
    head = [
        TITLES[report][2],
        "",
        "| create | update | replace | delete | adopt |",
        "|---:|---:|---:|---:|---:|",
        f"| {s['create']} | {s['update']} | {s['replace']} | {s['delete']} | {_adopting(doc)} |",
        "",
    ]
    changes = [c for c in doc["changes"] if c["pending"]]
    if not changes:
        head.append(f"**{TITLES[report][0]}** {NOTHING_BECAUSE[report]}")
    head.extend(policy_markdown(doc))
    head.extend(outside_markdown(doc, _md_cell, _shown))
    sections: list[str] = []
    for item in summarised(changes):
        if isinstance(item, Summary):
            sections.append(f"- `{SYMBOL[item.action]}` **{md_text(item.line())}**: {md_text(item.first())}")
            continue
        sections.append(_markdown_change(item))
    tail = []
    if doc.get("unmanaged"):
        tail.append(
            f"\n_{plural(len(doc['unmanaged']), 'unmanaged live object')} "
            f"{'is' if len(doc['unmanaged']) == 1 else 'are'} not touched._"
        )
    body = "\n".join(head)
    budget = max_chars - len(body) - sum(len(t) for t in tail) - 200
    used, shown = 0, 0
    for section in sections:
        if used + len(section) + 1 > budget:
            break
        used += len(section) + 1
        shown += 1
    out = [body, *sections[:shown]]
    if shown < len(sections):
        out.append(
            f"\n_… {plural(len(sections) - shown, 'more change')} not shown (size cap); "
            "see the JSON plan for all of them._"
        )
    out.extend(tail)
    return "\n".join(out) + "\n"


def render_policy_markdown(doc: Mapping[str, Any]) -> str:
    """Only the policy results of ``doc`` (``policy eval``), as in a plan's Markdown."""
    return "\n".join(policy_markdown(doc)).strip() + "\n"


def _markdown_change(change: Mapping[str, Any]) -> str:
    action = change["action"]
    causes = change.get("causes") or ([change["cause"]] if change.get("cause") else [])
    cause = f", {' + '.join(causes)}" if causes else ""
    lines = [
        "<details>",
        f"<summary><code>{SYMBOL[action].strip() or '='}</code> <b>{html_text(change['address'])}</b> "
        f"— {html_text(action + cause)}{_md_module(change)}</summary>",
        "",
        md_text(change["reason"]),
        "",
    ]
    if change.get("refused"):
        lines += [f"**Refused:** {md_text(change['refused'])}", ""]
    if change["fields"]:
        lines += ["| field | before | after |", "|---|---|---|"]
        for f in change["fields"]:
            mark = " ⚠ forces replacement" if f["forces_replacement"] else ""
            op = "add" if action == "create" else _op(f)
            before = "" if op == "add" else _md_cell(_shown(f, "before"))
            after = "" if op == "remove" else _md_cell(_shown(f, "after"))
            lines.append(f"| {md_cell_code(f['path'])}{mark} | {before} | {after} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    """A value in a table cell: a code span, at most 200 characters (``reconciler.common.escape``)."""
    return md_cell_code(clip(text, 200))


def _md_module(change: Mapping[str, Any]) -> str:
    module = change.get("module")
    return f" (from <code>{html_text(module)}</code>)" if module else ""
