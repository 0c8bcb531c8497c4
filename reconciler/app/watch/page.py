"""The live status page (``/``) and the JSON of ``/api/v1/stacks`` (``docs/watch.md``).

The page is the fleet page (``app/fleet/html.py``) made from the latest result of every stack,
reloading itself, with each stack's recent history (drifted at, synced, healed, failed,
contested), what watch may write to it, and what it holds back and why. Every name and message
shown is escaped; no script, font or stylesheet is fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.app.fleet.html import render_html
from reconciler.app.fleet.model import checked_with, fleet_report, stamp
from reconciler.common.escape import clip, html_attr, html_text
from reconciler.common.words import plural

__all__ = ["WATCH_FORMAT_VERSION", "render_page", "stacks_document"]

WATCH_FORMAT_VERSION = "1"
_STYLE = ".history td{font-size:12px}.suspended{background:#eaeef2}"


def stacks_document(
    results: Mapping[str, Mapping[str, Any]],
    *,
    replica: str,
    suspended: bool,
    discovery_error: str | None,
    sandbox: bool = False,
) -> dict[str, Any]:
    """The fleet report of the latest results, with what this watch process is doing; ``sandbox``:
    the stacks are checked against the emulators (each stack's next command says ``--sandbox``)."""
    report = fleet_report(results.values(), generated_at=stamp(), duration_s=0.0, how=checked_with(sandbox))
    return {
        **report,
        "report": "reconciler-watch",
        "watch_format_version": WATCH_FORMAT_VERSION,
        "replica": replica,
        "suspended": suspended,
        "discovery_error": discovery_error,
    }


def render_page(document: Mapping[str, Any], *, refresh_s: int) -> str:
    suspended, replica = document["suspended"], document["replica"]
    intro = [
        f'<p id="watch" data-replica="{html_attr(replica)}" data-suspended="{str(suspended).lower()}">'
        f"Watching {plural(document['summary']['stacks'], 'stack')}; this page reloads every {refresh_s}s "
        f"(replica <code>{html_text(replica)}</code>).</p>"
    ]
    if suspended:
        intro.append('<p class="suspended" id="suspended">All writes are suspended (global switch).</p>')
    if document.get("discovery_error"):
        intro.append(
            f'<p class="errored" id="discovery">Reading the stack folders failed (the stacks last found '
            f"are still checked): {html_text(document['discovery_error'])}</p>"
        )
    return render_html(
        document,
        title="reconciler watch",
        refresh_s=refresh_s,
        intro="\n".join(intro),
        stack_extra=_watch_part,
        extra_style=_STYLE,
    )


def _watch_part(stack: Mapping[str, Any]) -> str:
    watch = stack.get("watch")
    if not watch:
        return ""
    settings = watch["settings"]
    mode = (
        "suspended"
        if settings["suspended"]
        else ", ".join(k for k in ("sync", "heal", "allow_delete") if settings[k]) or "detect only"
    )
    every = f"every {settings['interval_s']:g}s"
    out = [f'<p class="mode" data-mode="{html_attr(mode)}">Watch: {html_text(mode)}; {every}.</p>']
    if watch["contested"]:
        names = ", ".join(f"<code>{html_text(a)}</code>" for a in watch["contested"])
        out.append(f'<p class="contested errored">Contested (no longer healed): {names}</p>')
    if watch["held"]:
        out.append('<table class="held"><tr><th>not written</th><th>why</th></tr>')
        out += [
            f"<tr><td><code>{html_text(h['address'])}</code></td><td>{html_text(h['why'])}</td></tr>"
            for h in watch["held"]
        ]
        out.append("</table>")
    if watch["history"]:
        out.append('<table class="history"><tr><th>when (UTC)</th><th>event</th><th>detail</th></tr>')
        for event in reversed(watch["history"]):
            detail = clip(event["message"] or ", ".join(event["addresses"]), 300)
            kind, when = event["event"], event["at"]
            out.append(
                f'<tr class="event" data-event="{html_attr(kind)}"><td>{html_text(when)}</td>'
                f"<td>{html_text(kind.replace('_', ' '))}</td><td>{html_text(detail)}</td></tr>"
            )
        out.append("</table>")
    return "\n".join(out)
