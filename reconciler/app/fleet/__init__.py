"""Fleet drift: many stacks checked in one process, sharded across machines, reported at a glance.

``discover`` (stacks under DIRs, and the stable subset of one shard) → ``run.check_fleet``
(concurrent read-only checks sharing one pool per endpoint) → the report (``model``, versioned
JSON, documented in ``docs/fleet-report.md``) → ``render`` (JSON, Markdown, HTML, Prometheus);
``merge`` combines the reports of a fleet's shards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FORMATS", "render", "to_json"]

_SURROGATE = re.compile("[\ud800-\udfff]")

FORMATS = ("text", "json", "markdown", "html", "prometheus")


def render(report: Mapping[str, Any], fmt: str, style: Callable[[str, str], str] | None = None) -> str:
    """The report in ``fmt``; ``text`` is an aligned table for a terminal, coloured by ``style``
    (``cli.console.styler``: colour name or "bold"; none: plain)."""
    if fmt == "text":
        from reconciler.app.fleet.text import render_text

        return render_text(report, style) if style else render_text(report)
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        from reconciler.app.fleet.html import render_html

        return render_html(report)
    if fmt == "prometheus":
        from reconciler.app.fleet.prometheus import render_prometheus

        return render_prometheus(report)
    from reconciler.app.fleet.markdown import render_markdown

    return render_markdown(report)


def to_json(report: Mapping[str, Any]) -> str:
    """JSON, non-ASCII as itself; a lone surrogate (an API's ``"\\udcff"``) as its JSON escape, so
    the text is always valid UTF-8 and reads back to the same value."""
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
