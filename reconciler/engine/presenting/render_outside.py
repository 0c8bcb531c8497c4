"""The "changed outside reconciler" part of a rendered plan (Terraform's "Objects have changed
outside of Terraform"): every field whose live value moved away from what was last applied, and
every object deleted outside, listed apart from the actions, even when the YAML changed too.

For a drift field the plan's ``after`` is the declared value, which is also what was applied (the
YAML did not change), and ``before`` is the live value now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.common.escape import md_cell_code

__all__ = ["outside_markdown", "outside_text"]

TITLE = "Changed outside reconciler since it last applied (drift)"


def _drifted(doc: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    found: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for change in doc["changes"]:
        if change["action"] == "create":
            if change.get("cause") == "drift":
                found.append((change, []))  # deleted outside: created again
            continue
        fields = [f for f in change["fields"] if f.get("cause") == "drift"]
        if fields:
            found.append((change, fields))
    return found


def _applied_and_live(field: Mapping[str, Any], shown: Callable[[Mapping[str, Any], str], str]) -> str:
    return f"{shown(field, 'after')} → {shown(field, 'before')}"


def outside_text(
    doc: Mapping[str, Any], style: Callable[[str, str], str], shown: Callable[[Mapping[str, Any], str], str]
) -> list[str]:
    drifted = _drifted(doc)
    if not drifted:
        return []
    lines = [style(f"{TITLE}:", "bold")]
    for change, fields in drifted:
        lines.append("")
        if not fields:
            lines.append(f"  # {change['address']} was deleted outside reconciler")
            continue
        ident = f"  [id={change['remote_id']}]" if change.get("remote_id") else ""
        lines.append(f"  # {change['address']}{ident}")
        width = max(len(f["path"]) for f in fields)
        for f in fields:
            lines.append(style(f"      ~ {f['path'].ljust(width)} = {_applied_and_live(f, shown)}", "yellow"))
    if any(fields for _change, fields in drifted):
        lines += ["", "(as applied → live now; unless the configuration changes, apply sets them back)"]
    return [*lines, ""]


def outside_markdown(
    doc: Mapping[str, Any], cell: Callable[[str], str], shown: Callable[[Mapping[str, Any], str], str]
) -> list[str]:
    drifted = _drifted(doc)
    if not drifted:
        return []
    lines = [f"#### {TITLE}", "", "| resource | field | as applied | live now |", "|---|---|---|---|"]
    for change, fields in drifted:
        if not fields:
            lines.append(f"| {md_cell_code(change['address'])} | _deleted outside reconciler_ | | |")
        for f in fields:
            before, after = cell(shown(f, "before")), cell(shown(f, "after"))
            lines.append(
                f"| {md_cell_code(change['address'])} | {md_cell_code(f['path'])} | {after} | {before} |"
            )
    return [*lines, ""]
