"""``reconciler report merge``: the reports of a fleet's shards as one report.

Every file must be a fleet report of this format version; a stack may appear in only one of them;
all shards must agree on N. Shards of N that sent no report are listed as ``missing_shards`` and
make the merged exit code 1: a shard whose job died must not look like "in sync".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.app.fleet.model import FORMAT_VERSION, REPORT, fleet_report
from reconciler.errors import ReconcilerError

__all__ = ["MergeError", "merge_reports", "read_report"]


class MergeError(ReconcilerError):
    """The shard reports cannot be merged (not a report, another version, overlapping shards)."""


def read_report(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MergeError(f"{path} is not a fleet report (not JSON: {exc})") from None
    except RecursionError:
        raise MergeError(f"{path} is not a fleet report (values nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("report") != REPORT or not isinstance(doc.get("stacks"), list):
        raise MergeError(
            f"{path} is not a fleet report (made by `reconciler drift --stacks DIR --format json`)"
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise MergeError(
            f"{path} has format_version {doc.get('format_version')!r}; "
            f"this reconciler reads {FORMAT_VERSION!r}"
        )
    return doc


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
    count = counts.pop() if counts else 0
    missing = [i for i in range(count) if i not in shards]
    return fleet_report(
        stacks.values(),
        generated_at=min(r["generated_at"] for r in reports.values()),
        duration_s=max(r["duration_s"] for r in reports.values()),
        shards=[{"index": i, "count": count} for i in sorted(shards)],
        missing_shards=missing,
    )
