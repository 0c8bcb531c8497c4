"""The fleet report as one self-contained HTML page (no script, font, image or stylesheet fetched),
for a platform team's screen or a CI artifact: problems first.

- Tiles with the count of stacks per status (a colour only where there are some); a click on one
  shows only that status.
- One table of stacks in severity order (errored, drifted, pending, in sync; then by name), with
  each stack's resource counts (an errored stack's are unknown: "?", never 0) and the command to
  run next; a search by name and a filter by status (a few lines of inline script; the page reads
  ``#status=drifted,pending&q=team-a`` from its address, so a link can open it filtered).
- A legend of the statuses; below, each stack that needs attention open on its changes
  (``<details>``), in-sync stacks closed.

Stable hooks for checks and scripts: ``#summary [data-status][data-count]``,
``tr.stack[data-status][data-name]`` per stack row, ``details.stack[data-name]`` per stack,
``#shown`` (how many rows the filter shows).

Every name, message and value goes in through ``html_text`` or ``html_attr``
(``reconciler.common.escape``); statuses and counts are the report model's (checked) values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.app.fleet.model import (
    STATUSES,
    by_severity,
    next_command,
    policy_denied,
    policy_findings,
    shard_label,
    stack_totals,
)
from reconciler.common.escape import clip, html_attr, html_text
from reconciler.common.words import plural

__all__ = ["COLOURS", "LEGEND", "render_html"]

LABEL = {"errored": "errored", "drifted": "drifted", "pending": "pending", "in_sync": "in sync"}
LEGEND = {
    "errored": "the check itself failed (bad YAML, API down, no access): its resources are unknown",
    "drifted": "a live object was changed outside reconciler: apply restores the YAML, or edit the YAML",
    "pending": "the YAML changed and was not applied yet: nothing drifted",
    "in_sync": "live state matches the YAML",
}
# Tints (backgrounds, only where some stack has the status) and strong colours (text, borders).
COLOURS = {"errored": "#ffd7d5", "drifted": "#ffe8b8", "pending": "#ddf4ff", "in_sync": "#dafbe1"}
STRONG = {"errored": "#cf222e", "drifted": "#9a6700", "pending": "#0969da", "in_sync": "#1a7f37"}
_STYLE = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{font-size:20px;margin:0}
header p{margin:2px 0 0;color:#d0d7de}main{padding:16px 24px}
#summary{display:flex;gap:12px;flex-wrap:wrap;margin:4px 0 12px}
.tile{min-width:150px;padding:10px 16px;border-radius:8px;border:1px solid #d0d7de;background:#fff;
cursor:pointer;text-align:left;font:inherit;color:inherit}
.tile strong{display:block;font-size:32px;line-height:1.1}.tile.none{color:#8c959f}
#legend{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px 18px;margin:0 0 12px;
padding:0;list-style:none;color:#57606a}#legend li{border-left:4px solid;padding-left:6px}
.why{font-size:12px;color:#cf222e;margin-top:2px}
#controls{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin:8px 0}
#search{font:inherit;padding:5px 8px;width:320px;border:1px solid #d0d7de;border-radius:6px}
#controls label{user-select:none}
table{border-collapse:collapse;background:#fff;margin:6px 0 16px;width:100%}
th,td{border-bottom:1px solid #d8dee4;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2;font-weight:600;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.unknown{color:#8c959f}
code{font:12px ui-monospace,SFMono-Regular,monospace}
.badge{padding:1px 10px;border-radius:10px;font-weight:600;white-space:nowrap}
details{margin:6px 0;border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;background:#fff}
summary{cursor:pointer}pre{white-space:pre-wrap;margin:4px 0}.err{color:#cf222e}
"""
# Filter and search: show the rows (and details) whose status is ticked and whose name holds the text.
_SCRIPT = """
(function () {
  var search = document.getElementById("search");
  var boxes = [].slice.call(document.querySelectorAll("#controls input[type=checkbox]"));
  function show() {
    var want = {}, text = search.value.toLowerCase(), rows = 0;
    boxes.forEach(function (b) { want[b.value] = b.checked; });
    [].forEach.call(document.querySelectorAll("[data-name][data-status]"), function (el) {
      var name = el.getAttribute("data-name").toLowerCase();
      var ok = want[el.getAttribute("data-status")] && name.indexOf(text) >= 0;
      el.hidden = !ok;
      if (ok && el.tagName === "TR") { rows++; }
    });
    var all = document.querySelectorAll("tr.stack").length;
    document.getElementById("shown").textContent = rows + " of " + all + " stacks shown";
  }
  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("status")) {
    var only = hash.get("status").split(",");
    boxes.forEach(function (b) { b.checked = only.indexOf(b.value) >= 0; });
  }
  if (hash.get("q")) { search.value = hash.get("q"); }
  search.addEventListener("input", show);
  boxes.forEach(function (b) { b.addEventListener("change", show); });
  [].forEach.call(document.querySelectorAll(".tile"), function (tile) {
    tile.addEventListener("click", function () {
      boxes.forEach(function (b) { b.checked = b.value === tile.getAttribute("data-status"); });
      show();
    });
  });
  show();
})();
"""


def render_html(
    report: Mapping[str, Any],
    *,
    title: str = "reconciler fleet drift",
    refresh_s: int | None = None,
    intro: str = "",
    stack_extra: Callable[[Mapping[str, Any]], str] | None = None,
    extra_style: str = "",
) -> str:
    """The page. ``reconciler watch`` serves it live: ``refresh_s`` (the page reloads itself),
    ``intro`` (in place of the run's line: duration, exit code) and ``stack_extra`` (each stack's
    history): HTML its caller has escaped."""
    summary = report["summary"]
    stacks = by_severity(report["stacks"])
    how = report.get("checked_with")
    title = f"{title} — {report['generated_at']}"
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s else ""
    run_line = (
        f"<p>{plural(summary['stacks'], 'stack')} checked in {report['duration_s']:.1f}s"
        f"{html_text(shard_label(report))}; exit code {report['exit_code']}</p>"
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8">{refresh}',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html_text(title)}</title><style>{_STYLE}{_colours()}{extra_style}</style></head><body>",
        f"<header><h1>{html_text(title)}</h1>{intro or run_line}</header><main>",
    ]
    if summary.get("policy_denied"):
        denied = plural(summary["policy_denied"], "stack")
        parts.append(f'<p class="err" id="policy-denied">Denied by policy: {denied}.</p>')
    if report.get("missing_shards"):
        missing = ", ".join(str(i) for i in report["missing_shards"])
        shards = "shards" if len(report["missing_shards"]) > 1 else "shard"
        parts.append(f'<p class="err" id="missing">Incomplete: no report from {shards} {missing}.</p>')
    parts.append('<div id="summary">')
    for status in STATUSES:  # a status is coloured only when some stacks have it
        count = summary[status]
        css = status if count else "none"
        parts.append(
            f'<button type="button" class="tile {css}" data-status="{status}" data-count="{count}" '
            f'title="show only {LABEL[status]} stacks"><strong>{count}</strong>{LABEL[status]}</button>'
        )
    parts.append("</div>")
    parts.append('<ul id="legend">')
    parts += [
        f'<li style="border-color:{STRONG[s]}"><strong>{LABEL[s]}</strong>: {html_text(LEGEND[s])}</li>'
        for s in STATUSES
    ]
    parts.append("</ul>")
    resources = summary["resources"]
    parts.append(
        f'<p id="resources">Resources of the stacks checked: {resources["drifted"]} drifted, '
        f"{resources['pending']} pending, {resources['in_sync']} in sync"
        + (
            f" (and those of {plural(summary['errored'], 'errored stack')}: unknown)"
            if summary["errored"]
            else ""
        )
        + ".</p>"
    )
    parts.append('<div id="controls"><input id="search" type="search" placeholder="Search stacks by name…" '
                 'aria-label="Search stacks by name">')  # fmt: skip
    parts += [f'<label><input type="checkbox" value="{s}" checked> {LABEL[s]}</label>' for s in STATUSES]
    parts.append('<span id="shown"></span></div>')
    parts.append(
        '<table id="stacks"><thead><tr><th>status</th><th>stack</th><th class="n">drifted</th>'
        '<th class="n">pending</th><th class="n">in sync</th><th>next</th><th class="n">seconds</th>'
        "</tr></thead><tbody>"
    )
    for number, stack in enumerate(stacks):
        parts.append(_stack_row(stack, f"stack-{number}", next_command(stack, how)))
    parts.append("</tbody></table><h2>Stacks</h2>")
    for number, stack in enumerate(stacks):
        parts.append(_stack_details(stack, f"stack-{number}", next_command(stack, how), stack_extra))
    parts.append(f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _stack_row(stack: Mapping[str, Any], anchor: str, command: str | None) -> str:
    status = stack["status"]
    if status == "errored":
        unknown = '<td class="n unknown" title="unknown: the check failed">?</td>'
        counts = unknown * 3
    else:
        totals = stack_totals(stack)
        counts = "".join(f'<td class="n">{totals[s]}</td>' for s in ("drifted", "pending", "in_sync"))
    why = stack["error"].split("\n", 1)[0] if stack["error"] else ""
    if policy_denied(stack):
        why = f"denied by policy{'; ' + why if why else ''}"
    name = f"<code>{html_text(stack['name'])}</code>"
    return (
        f'<tr class="{"stack" if status == "in_sync" else f"stack {status}"}" data-status="{status}" '
        f'data-name="{html_attr(stack["name"])}"><td><span class="badge {status}">{LABEL[status]}</span></td>'
        f'<td><a href="#{anchor}">{name}</a>'
        + (f'<div class="why">{html_text(clip(why, 140))}</div>' if why else "")
        + f"</td>{counts}"
        f"<td>{f'<code>{html_text(command)}</code>' if command else ''}</td>"
        f'<td class="n">{stack["duration_s"]:.2f}</td></tr>'
    )


def _stack_details(
    stack: Mapping[str, Any],
    anchor: str,
    command: str | None,
    extra: Callable[[Mapping[str, Any]], str] | None = None,
) -> str:
    status = stack["status"]
    opened = "" if status == "in_sync" else " open"
    out = [
        f'<details class="stack" id="{anchor}" '
        f'data-name="{html_attr(stack["name"])}" data-status="{status}"{opened}>',
        f'<summary><span class="badge {status}">{LABEL[status]}</span> '
        f"<code>{html_text(stack['name'])}</code></summary>",
    ]
    if stack["error"]:
        out.append(f'<pre class="err">{html_text(stack["error"])}</pre>')
    findings = policy_findings(stack)
    if findings:
        out.append('<table class="policy"><tr><th>policy</th><th>rule</th><th>message</th></tr>')
        for kind, finding in findings:
            label = "denies" if kind == "deny" else "warns"
            css = "errored" if kind == "deny" else "drifted"
            out.append(
                f'<tr class="policy {css}" data-policy="{kind}"><td>{label}</td>'
                f"<td><code>{html_text(clip(str(finding['rule']), 100))}</code></td>"
                f"<td>{html_text(clip(str(finding['msg']), 500))}</td></tr>"
            )
        out.append("</table>")
    if command:
        out.append(f"<p>Next: <code>{html_text(command)}</code></p>")
    if stack["kinds"]:
        out.append(
            '<table><tr><th>kind</th><th class="n">drifted</th><th class="n">pending</th>'
            '<th class="n">in sync</th></tr>'
        )
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
            for field in change["fields"] or [None]:
                out.append(_change_row(change, field))
        out.append("</table>")
    if extra is not None:
        out.append(extra(stack))
    out.append("</details>")
    return "\n".join(out)


def _change_row(change: Mapping[str, Any], field: Mapping[str, Any] | None) -> str:
    cause = field["cause"] if field else ", ".join(change["causes"])
    row_status = "drifted" if cause == "drift" else "pending"
    head = (
        f'<tr class="change {row_status}"><td><code>{html_text(change["address"])}</code></td>'
        f"<td>{html_text(change['action'])}</td>"
    )
    if field is None:
        return f"{head}<td colspan='4'>{html_text(cause)}: {html_text(change['reason'])}</td></tr>"
    return (
        f"{head}<td><code>{html_text(field['path'])}</code></td><td>{html_text(cause)}</td>"
        f"<td><code>{_value(field['before'])}</code></td><td><code>{_value(field['after'])}</code></td></tr>"
    )


def _colours() -> str:
    tints = "".join(f".{s}{{background:{c}}}" for s, c in COLOURS.items())
    strong = "".join(
        f".tile.{s}{{border-color:{STRONG[s]}}}.tile.{s} strong{{color:{STRONG[s]}}}" for s in STATUSES
    )
    return tints + strong


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return html_text(clip(text, 200))
