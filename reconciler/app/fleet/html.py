"""The fleet report as one self-contained HTML page (no script, font, image or stylesheet
fetched), for a person to open from a CI artifact: the summary, a table with a colour per status,
and each stack expandable (``<details>``) to its changes and per-field causes.

Stable hooks for checks and scripts: ``#summary [data-status][data-count]``,
``tr.stack[data-status]`` per stack row, ``details.stack[data-name]`` per stack.

Every name, message and value goes in through ``html_text`` or ``html_attr``
(``reconciler.common.escape``); statuses and counts are the report model's (checked) values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.app.fleet.model import shard_label, stack_totals
from reconciler.common.escape import clip, html_attr, html_text

__all__ = ["COLOURS", "render_html"]

_LABEL = {"errored": "errored", "drifted": "drifted", "pending": "pending config", "in_sync": "in sync"}
COLOURS = {"errored": "#ffd7d5", "drifted": "#ffe8b8", "pending": "#ddf4ff", "in_sync": "#dafbe1"}
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px}table{border-collapse:collapse;margin:8px 0 20px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
td.n{text-align:right}code{font:12px ui-monospace,monospace}
.badge{padding:1px 8px;border-radius:10px;font-weight:600}
details{margin:4px 0;border:1px solid #d0d7de;border-radius:6px;padding:4px 8px}
summary{cursor:pointer}pre{white-space:pre-wrap;margin:4px 0}
#summary td{font-size:16px;font-weight:600}
"""


def render_html(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    title = f"reconciler fleet drift — {report['generated_at']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html_text(title)}</title><style>{_STYLE}{_colours()}</style></head><body>",
        f"<h1>{html_text(title)}</h1>",
        f"<p>{summary['stacks']} stacks checked in {report['duration_s']:.1f}s"
        f"{html_text(shard_label(report))}; "
        f"exit code {report['exit_code']}.</p>",
    ]
    if report.get("missing_shards"):
        missing = ", ".join(str(i) for i in report["missing_shards"])
        parts.append(f'<p class="errored" id="missing">Incomplete: no report from shard(s) {missing}.</p>')
    parts.append('<table id="summary"><tr>')
    parts += [f"<th>{_LABEL[s]}</th>" for s in _LABEL]
    parts.append("</tr><tr>")
    for status in _LABEL:  # a status is coloured only when some stacks have it
        count = summary[status]
        css = status if count else "none"
        parts.append(f'<td class="{css} n" data-status="{status}" data-count="{count}">{count}</td>')
    parts.append("</tr></table>")
    resources = summary["resources"]
    parts.append(
        '<table id="resources"><tr><th>resources</th><th>drifted</th><th>pending config</th>'
        f'<th>in sync</th></tr><tr><td>all stacks</td><td class="n">{resources["drifted"]}</td>'
        f'<td class="n">{resources["pending"]}</td><td class="n">{resources["in_sync"]}</td></tr></table>'
    )
    parts.append(
        '<table id="stacks"><tr><th>stack</th><th>status</th><th>drifted</th><th>pending</th>'
        "<th>in sync</th><th>seconds</th></tr>"
    )
    for number, stack in enumerate(report["stacks"]):
        counts = stack_totals(stack)
        parts.append(
            f'<tr class="stack {stack["status"]}" data-status="{stack["status"]}">'
            f'<td><a href="#stack-{number}"><code>{html_text(stack["name"])}</code></a></td>'
            f'<td><span class="badge">{_LABEL[stack["status"]]}</span></td>'
            f'<td class="n">{counts["drifted"]}</td><td class="n">{counts["pending"]}</td>'
            f'<td class="n">{counts["in_sync"]}</td><td class="n">{stack["duration_s"]:.2f}</td></tr>'
        )
    parts.append("</table><h2>Stacks</h2>")
    for number, stack in enumerate(report["stacks"]):
        parts.append(_stack_details(stack, f"stack-{number}"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _stack_details(stack: Mapping[str, Any], anchor: str) -> str:
    status = stack["status"]
    opened = " open" if status in ("errored", "drifted") else ""
    out = [
        f'<details class="stack {status}" id="{anchor}" '
        f'data-name="{html_attr(stack["name"])}" data-status="{status}"{opened}>',
        f"<summary><code>{html_text(stack['name'])}</code> — {_LABEL[status]}</summary>",
    ]
    if stack["error"]:
        out.append(f"<pre>{html_text(stack['error'])}</pre>")
    if stack["kinds"]:
        out.append("<table><tr><th>kind</th><th>drifted</th><th>pending</th><th>in sync</th></tr>")
        for kind, counts in stack["kinds"].items():
            out.append(
                f"<tr><td>{html_text(kind)}</td><td class='n'>{counts['drifted']}</td>"
                f"<td class='n'>{counts['pending']}</td><td class='n'>{counts['in_sync']}</td></tr>"
            )
        out.append("</table>")
    if stack["changes"]:
        out.append(
            '<table class="changes"><tr><th>resource</th><th>action</th><th>field</th><th>cause</th>'
            "<th>live</th><th>configured</th></tr>"
        )
        for change in stack["changes"]:
            fields = change["fields"] or [None]
            for field in fields:
                cause = field["cause"] if field else ", ".join(change["causes"])
                row_status = "drifted" if cause == "drift" else "pending"
                out.append(
                    f'<tr class="change {row_status}"><td><code>{html_text(change["address"])}</code></td>'
                    f"<td>{html_text(change['action'])}</td>"
                    + (
                        f"<td><code>{html_text(field['path'])}</code></td><td>{html_text(cause)}</td>"
                        f"<td><code>{_value(field['before'])}</code></td>"
                        f"<td><code>{_value(field['after'])}</code></td>"
                        if field
                        else f"<td colspan='4'>{html_text(cause)}: {html_text(change['reason'])}</td>"
                    )
                    + "</tr>"
                )
        out.append("</table>")
    out.append("</details>")
    return "\n".join(out)


def _colours() -> str:
    return "".join(f".{status}{{background:{colour}}}" for status, colour in COLOURS.items())


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return html_text(clip(text, 200))
