"""``reconciler report merge``: the reports of a fleet's shards as one report.

Every file is parsed whole first (``schema.py``: a defect is one message naming the file and the
JSON path, before any format is made); a report must be of this format version; a stack may
appear in only one of them; all shards must agree on N. Shards of N that sent no report are
listed as ``missing_shards`` and make the merged exit code 1: a shard whose job died must not look
like "in sync".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.app.fleet.model import fleet_report
from reconciler.app.fleet.schema import MergeError, parse_report

__all__ = ["MergeError", "merge_reports", "read_report"]


def read_report(path: Path) -> dict[str, Any]:
    """The report in ``path``, parsed whole (``schema.parse_report``): a ``ReportDefect`` naming
    the file and the JSON path otherwise."""
    return parse_report(path)


def merge_reports(reports: Mapping[Path, Mapping[str, Any]]) -> dict[str, Any]:
    stacks: dict[str, Any] = {}
    where: dict[str, Path] = {}
    shards: dict[int, Path] = {}
    counts: set[int] = set()
    for path, report in reports.items():
        for shard in report.get("shards", []):
            counts.add(shard["count"])
            if shard["index"] in shards:
                raise MergeError(f"shard {shard['index']} is in both {shards[shard['index']]} and {path}")
            shards[shard["index"]] = path
        for stack in report["stacks"]:
            if stack["name"] in stacks:
                raise MergeError(f"stack {stack['name']} is in both {where[stack['name']]} and {path}")
            stacks[stack["name"]], where[stack["name"]] = stack, path
    if len(counts) > 1:
        raise MergeError(f"the reports split the fleet in different ways: into {sorted(counts)} shards")
    sharded = [r for r in reports.values() if r.get("shards")]
    if sharded and len(sharded) != len(reports):
        raise MergeError("some reports are shards and some cover a whole fleet; merge one kind only")
    how = _checked_the_same_way(reports)
    count = counts.pop() if counts else 0
    missing = [i for i in range(count) if i not in shards]
    return fleet_report(
        stacks.values(),
        generated_at=min(r["generated_at"] for r in reports.values()),
        duration_s=max(r["duration_s"] for r in reports.values()),
        shards=[{"index": i, "count": count} for i in sorted(shards)],
        missing_shards=missing,
        how=how,
    )


def _checked_the_same_way(reports: Mapping[Path, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The reports' ``checked_with``, when every one carries the same; None when one is older and
    does not say (its stacks' next command would be a guess); an error when two disagree (shards of
    one fleet run are checked one way: a sandbox report merged with a real one is a mistake)."""
    seen: dict[str, Path] = {}
    for path, report in reports.items():
        how = report.get("checked_with")
        if how is not None:
            seen.setdefault(json.dumps(how, sort_keys=True), path)
    if len(seen) > 1:
        first, second = list(seen.values())[:2]
        raise MergeError(
            f"{first} and {second} were not checked the same way (checked_with: --sandbox or --policy "
            "differ); merge the reports of one fleet run"
        )
    hows = [report.get("checked_with") for report in reports.values()]
    return hows[0] if hows and all(how is not None for how in hows) else None
