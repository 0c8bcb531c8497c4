"""Fleet drift: many stacks checked in one process, sharded across machines, reported at a glance.

``discover`` (stacks under DIRs, and the stable subset of one shard) → ``run.check_fleet``
(concurrent read-only checks sharing one pool per endpoint) → the report (``model``, versioned
JSON, documented in ``docs/fleet-report.md``) → ``render`` (JSON, Markdown, HTML, Prometheus);
``merge`` combines the reports of a fleet's shards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "json", "markdown", "html", "prometheus")


def render(report: Mapping[str, Any], fmt: str) -> str:
    """The report in ``fmt`` (``text`` is the Markdown, for a terminal or a CI log)."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        from reconciler.app.fleet.html import render_html

        return render_html(report)
    if fmt == "prometheus":
        from reconciler.app.fleet.prometheus import render_prometheus

        return render_prometheus(report)
    from reconciler.app.fleet.markdown import render_markdown

    return render_markdown(report)
