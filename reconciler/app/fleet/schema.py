"""The fleet report (format_version "1", ``docs/fleet-report.md``) as a pydantic model: what
``report merge`` parses every input with before it merges or renders anything.

A report is input like any other: a shard's file may be cut, edited, made by another version or by
someone hostile. Types are strict (a count is an integer, not ``"3"`` or ``3.0``), strings and lists
are bounded (a claim of 10^12 shards is refused before anything is allocated), statuses are the
known ones, and the first defect is one message naming the file and the JSON path
(``$.stacks[2].kinds.cores.drifted``). Keys this version does not know are ignored, as the format
promises (keys may be added within a version).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reconciler.common.escape import clip, shown
from reconciler.common.paths import PathProblem, read_capped
from reconciler.errors import ReconcilerError

__all__ = ["MAX_REPORT_BYTES", "MAX_SHARDS", "FleetReport", "MergeError", "ReportDefect", "parse_report"]

MAX_REPORT_BYTES = 64 * 2**20  # ~20,000 stacks with changes; a whole fleet's report is far smaller
MAX_SHARDS = 100_000  # Kubernetes' limit on an Indexed Job's completions
MAX_STACKS = 1_000_000
MAX_COUNT = 10**9
MAX_TEXT = 100_000
STAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"

Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
Seconds = Annotated[float, Field(ge=0, le=10**7, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=MAX_TEXT, strict=True)]
Name = Annotated[str, Field(min_length=1, max_length=4096, strict=True)]
Stamp = Annotated[str, Field(pattern=STAMP, strict=True)]


class MergeError(ReconcilerError):
    """The shard reports cannot be merged (not a report, another version, overlapping shards)."""


class ReportDefect(MergeError):
    """A file given to ``report merge`` that is not a valid fleet report of this version."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Counts(_Model):
    drifted: Count
    pending: Count
    in_sync: Count


class ApiFigures(_Model):
    requests: Count = 0
    retries: Count = 0
    rate_limited: Count = 0


class FieldChange(_Model):
    path: Text
    cause: Text | None = None
    before: Any = None
    after: Any = None
    sensitive: bool = False
    forces_replacement: bool = False


class ChangeEntry(_Model):
    address: Name
    kind: Name
    status: Literal["drifted", "pending"]
    action: Name
    cause: Text | None = None
    causes: Annotated[list[Text], Field(max_length=16)]
    reason: Text = ""
    remote_id: Text | None = None
    fields: Annotated[list[FieldChange], Field(max_length=MAX_COUNT)]


class StackEntry(_Model):
    name: Name
    status: Literal["errored", "drifted", "pending", "in_sync"]
    error: Text | None
    checked_at: Stamp
    duration_s: Seconds
    kinds: Annotated[dict[Name, Counts], Field(max_length=10_000)]
    changes: list[ChangeEntry]
    unmanaged: Count = 0
    warnings: list[Text] = []
    http: dict[Name, ApiFigures] = {}
    # The policies' verdict (docs/policy.md), an object or null; its readers (model.policy_findings)
    # take only the fields they know, each checked for its type, so any object is safe to keep.
    policy: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _error_when_errored(self) -> StackEntry:
        if (self.status == "errored") != bool(self.error):
            raise ValueError("`error` is set exactly when `status` is `errored`")
        return self


class ShardEntry(_Model):
    index: Annotated[int, Field(ge=0, lt=MAX_SHARDS, strict=True)]
    count: Annotated[int, Field(ge=1, le=MAX_SHARDS, strict=True)]

    @model_validator(mode="after")
    def _index_below_count(self) -> ShardEntry:
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below its count {self.count}")
        return self


class Summary(_Model):
    stacks: Count
    errored: Count
    drifted: Count
    pending: Count
    in_sync: Count
    resources: Counts
    http: dict[Name, ApiFigures] = {}
    policy_denied: Count = 0


class CheckedWith(_Model):
    """How the stacks were checked (``model.checked_with``): what the next command must repeat."""

    sandbox: Annotated[bool, Field(strict=True)]
    policy: Annotated[list[Name], Field(max_length=1000)] = []
    policy_namespace: Name | None = None
    # Only the names the next command may set (model.STATE_ENVIRONMENT): a report from elsewhere
    # must not put any other assignment in front of a command a person copies into a shell.
    environment: dict[
        Literal["RECONCILER_STATE_BACKEND", "RECONCILER_STATE_STACK"],
        Annotated[str, Field(max_length=200, strict=True)],
    ] = {}


class FleetReport(_Model):
    format_version: Literal["1"]
    report: Literal["reconciler-fleet-drift"]
    generated_at: Stamp
    duration_s: Seconds
    shards: Annotated[list[ShardEntry], Field(max_length=MAX_SHARDS)]
    missing_shards: Annotated[
        list[Annotated[int, Field(ge=0, lt=MAX_SHARDS, strict=True)]], Field(max_length=MAX_SHARDS)
    ] = []
    exit_code: Literal[0, 1, 2]
    summary: Summary
    stacks: Annotated[list[StackEntry], Field(max_length=MAX_STACKS)]
    checked_with: CheckedWith | None = None  # absent from reports made before it was added


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _defect(path: Path, where: str, what: str) -> ReportDefect:
    return ReportDefect(f"{shown(path)}: {where}: {shown(what)}")


def parse_report(path: Path) -> dict[str, Any]:
    """The report in ``path``, checked whole, as a plain document (``model_dump``) the merge and the
    renderers read; a :class:`ReportDefect` naming the file and the JSON path of the first defect."""
    try:
        raw = read_capped(path, MAX_REPORT_BYTES)
    except PathProblem as exc:
        raise _defect(path, "cannot read", exc.reason) from None
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise _defect(path, "not a fleet report", f"not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise _defect(path, "not a fleet report", "values nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, an integer past Python's digit limit
        raise _defect(path, "not a fleet report", f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("report") != "reconciler-fleet-drift":
        raise _defect(
            path, "$.report", "not a fleet report (made by `reconciler drift --stacks DIR --format json`)"
        )
    if doc.get("format_version") != "1":
        raise _defect(
            path, "$.format_version", f"is {doc.get('format_version')!r}; this reconciler reads '1'"
        )
    try:
        report = FleetReport.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise _defect(path, _json_path(first["loc"]), _words(first) + more) from None
    return report.model_dump(mode="python")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _words(error: Any) -> str:
    """pydantic's message, with what was found (bounded: a value may be huge or hostile)."""
    message = str(error["msg"])
    if error["type"] == "missing":
        return "required, missing"
    found = error.get("input")
    if isinstance(found, (str, int, float, bool)) or found is None:
        text = json.dumps(found, ensure_ascii=False)
        if isinstance(found, float) and not math.isfinite(found):
            text = str(found)
        found_text = clip(text, 60)
    elif isinstance(found, list):
        found_text = "a list"
    elif isinstance(found, dict):
        found_text = "a mapping"
    else:
        found_text = type(found).__name__
    return f"{message}; found {found_text}"
