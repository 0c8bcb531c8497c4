"""Validation rules and constants of the Signaloid emulator (see ARCHITECTURE.md, "The three APIs").

Pure functions: each takes a decoded JSON body and returns the normalised fields, or raises
:class:`ApiError` with a message that names the offending field and says why. Rules that need the
emulator's data (does a Core exist, is a RemoteURL + Branch already connected) live in
:mod:`reconciler.sandbox.signaloid`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CORE_FIELDS",
    "DEFAULT_CORES",
    "REMOVABLE_REPOSITORY_FIELDS",
    "REPOSITORY_FIELDS",
    "WEBHOOK_EVENTS",
    "ApiError",
    "check_id",
    "check_precision",
    "parse_body",
    "parse_flag",
    "parse_remove",
    "validate_core",
    "validate_repository",
    "validate_webhook",
]

CORE_CLASSES = ("C0", "C0Pro", "C0-microSD", "C0-microSD-plus")
MICROARCHITECTURES = ("Zurich", "Athens", "Bypass", "Reference", "Jupiter")
CORRELATION_TRACKING = ("autocorrelation", "disable")  # case-insensitive in, lowercase out
CORE_FIELDS = ("Name", "Class", "Precision", "MemorySize", "Microarchitecture", "CorrelationTracking")
MEMORY_RANGE = (256_000, 4_000_000_000)
PRECISION_MIN = 4
PRECISION_MAX = 8000
PRECISION_MAX_REFERENCE = 1_000_000

REPOSITORY_REQUIRED = ("RemoteURL", "Commit", "Branch", "BuildDirectory")
REPOSITORY_FIELDS = (*REPOSITORY_REQUIRED, "Arguments", "Core", "DataSources", "TraceVariables")
REMOVABLE_REPOSITORY_FIELDS = ("Core", "DataSources", "TraceVariables")
DATA_SOURCE_TYPES = ("Gateway", "Bucket", "SignaloidCloudStorage")
MAX_DATA_SOURCES = 5

WEBHOOK_EVENTS = ("task-status", "build-status", "task-stats", "build-stats", "task-count", "build-count")
WEBHOOK_STATUSES = ("active", "disabled")

ID_PATTERNS = {"CoreID": re.compile(r"cor_[a-z0-9]{32}"), "RepositoryID": re.compile(r"rep_[a-z0-9]{32}")}


def _default_core(
    core_id: str, name: str, cls: str, arch: str, precision: int, memory: int
) -> dict[str, Any]:
    return {
        "Object": "Core",
        "CoreID": core_id,
        "Owner": "signaloid",
        "CreatedAt": 1669821723,
        "UpdatedAt": 1669821723,
        "Name": name,
        "Class": cls,
        "Microarchitecture": arch,
        "CorrelationTracking": "autocorrelation",
        "MemorySize": memory,
        "Precision": precision,
    }


# Ids and names are the real ones seen in public Signaloid code (SDK tests, C0-microSD-utilities);
# the other field values are plausible stand-ins, as no public source lists them.
DEFAULT_CORES: tuple[dict[str, Any], ...] = tuple(
    _default_core(*row)
    for row in (
        ("cor_b21e4de9927158c1a5b603c2affb8a09", "C0-S+", "C0", "Athens", 64, 67_108_864),
        ("cor_808bbbb9932c5d29a58370a1ec9a859f", "C0-microSD-XS", "C0-microSD", "Jupiter", 16, 256_000),
        ("cor_271d544c73a8544d9026252652342972", "C0-microSD-N", "C0-microSD", "Jupiter", 32, 256_000),
        ("cor_c1cde893b0d75bb6a8941e9caf90f2a6", "C0-microSD-N+", "C0-microSD", "Jupiter", 32, 256_000),
    )
)


class ApiError(Exception):
    """An error answer of the API: HTTP status and the ``message`` of the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_id(kind: str, value: str) -> None:
    """Malformed path ids are a 400 (the reference documents the pattern and a 400 answer)."""
    if not ID_PATTERNS[kind].fullmatch(value):
        raise ApiError(400, f"{kind} {value!r} is malformed: expected {ID_PATTERNS[kind].pattern}")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: empty means ``{}``; anything but a JSON object is a 400."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, f"Request body must be a JSON object, got {type(body).__name__}")
    return body


def parse_flag(name: str, value: str | None) -> bool:
    """A boolean query parameter such as ``default=true``; absent means false."""
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise ApiError(400, f"Query parameter {name} must be true or false, got {value!r}")
    return value.lower() == "true"


def _reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _require(body: dict[str, Any], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in body]
    if missing:
        raise ApiError(400, f"Missing required field(s): {', '.join(missing)}")


def _string(field: str, value: Any, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{field} must be a string, got {type(value).__name__}")
    if non_empty and not value.strip():
        raise ApiError(400, f"{field} must be a non-empty string")
    return value


def _integer(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{field} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ApiError(400, f"{field} must be between {low} and {high}, got {value}")
    return value


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ApiError(400, f"{field} must be one of {', '.join(choices)}, got {value!r}")
    return value


def validate_core(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Normalised Core fields of a POST (all six required) or PATCH (any subset) body.

    Precision is checked only for its own bounds here; :func:`check_precision` checks it against
    the Microarchitecture of the resulting core.
    """
    _reject_unknown(body, CORE_FIELDS)
    if not partial:
        _require(body, CORE_FIELDS)
    out: dict[str, Any] = {}
    if "Name" in body:
        out["Name"] = _string("Name", body["Name"], non_empty=True)
    if "Class" in body:
        out["Class"] = _choice("Class", body["Class"], CORE_CLASSES)
    if "Microarchitecture" in body:
        out["Microarchitecture"] = _choice("Microarchitecture", body["Microarchitecture"], MICROARCHITECTURES)
    if "CorrelationTracking" in body:
        value = body["CorrelationTracking"]
        lowered = value.lower() if isinstance(value, str) else value
        if lowered not in CORRELATION_TRACKING:
            raise ApiError(400, f"CorrelationTracking must be Autocorrelation or Disable, got {value!r}")
        out["CorrelationTracking"] = lowered
    if "MemorySize" in body:
        out["MemorySize"] = _integer("MemorySize", body["MemorySize"], *MEMORY_RANGE)
    if "Precision" in body:
        out["Precision"] = _integer("Precision", body["Precision"], PRECISION_MIN, PRECISION_MAX_REFERENCE)
    return out


def check_precision(core: dict[str, Any]) -> None:
    """Precision above 8000 is allowed only for the Reference microarchitecture."""
    limit = PRECISION_MAX_REFERENCE if core["Microarchitecture"] == "Reference" else PRECISION_MAX
    if core["Precision"] > limit:
        raise ApiError(
            400,
            f"Precision must be between {PRECISION_MIN} and {limit} for the {core['Microarchitecture']} "
            f"microarchitecture, got {core['Precision']}",
        )


def _remote_url(value: Any) -> str:
    url = _string("RemoteURL", value, non_empty=True)
    if url.startswith("git@") or url.lower().startswith(("ssh://", "git+ssh://")):
        raise ApiError(400, f"RemoteURL {url!r} is an SSH URL; only https:// remote URLs are supported")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, f"RemoteURL {url!r} must be an http(s) URL with a host")
    return url


def _data_sources(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ApiError(400, f"DataSources must be an array, got {type(value).__name__}")
    if len(value) > MAX_DATA_SOURCES:
        raise ApiError(400, f"DataSources may hold at most {MAX_DATA_SOURCES} items, got {len(value)}")
    out = []
    for i, item in enumerate(value):
        where = f"DataSources[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object")
        _reject_unknown(item, ("ResourceID", "ResourceType", "Location"))
        _require(item, ("ResourceID", "ResourceType", "Location"))
        out.append(
            {
                "ResourceID": _string(f"{where}.ResourceID", item["ResourceID"], non_empty=True),
                "ResourceType": _choice(f"{where}.ResourceType", item["ResourceType"], DATA_SOURCE_TYPES),
                "Location": _string(f"{where}.Location", item["Location"]),
            }
        )
    return out


def _trace_variables(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ApiError(400, f"TraceVariables must be an array, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        where = f"TraceVariables[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object")
        _reject_unknown(item, ("File", "LineNumber", "Expression"))
        _require(item, ("File", "LineNumber", "Expression"))
        out.append(
            {
                "File": _string(f"{where}.File", item["File"], non_empty=True),
                "LineNumber": _integer(f"{where}.LineNumber", item["LineNumber"], 0, 2**31 - 1),
                "Expression": _string(f"{where}.Expression", item["Expression"], non_empty=True),
            }
        )
    return out


def validate_repository(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Normalised Repository fields of a POST (four required) or PATCH (any subset) body.

    Whether ``Core`` names an existing core is checked by the emulator, not here.
    """
    _reject_unknown(body, REPOSITORY_FIELDS)
    if not partial:
        _require(body, REPOSITORY_REQUIRED)
    out: dict[str, Any] = {}
    if "RemoteURL" in body:
        out["RemoteURL"] = _remote_url(body["RemoteURL"])
    for name in ("Commit", "Branch"):
        if name in body:
            out[name] = _string(name, body[name], non_empty=True)
    for name in ("BuildDirectory", "Arguments"):
        if name in body:
            out[name] = _string(name, body[name])
    if "Core" in body:
        core = _string("Core", body["Core"])
        if not ID_PATTERNS["CoreID"].fullmatch(core):
            raise ApiError(400, f"Core {core!r} is malformed: expected {ID_PATTERNS['CoreID'].pattern}")
        out["Core"] = core
    if "DataSources" in body:
        out["DataSources"] = _data_sources(body["DataSources"])
    if "TraceVariables" in body:
        out["TraceVariables"] = _trace_variables(body["TraceVariables"])
    return out


def parse_remove(values: list[str]) -> list[str]:
    """The ``remove=`` query values of a repository PATCH, checked and de-duplicated."""
    out: list[str] = []
    for value in values:
        if value not in REMOVABLE_REPOSITORY_FIELDS:
            raise ApiError(
                400, f"remove={value!r} is not removable; allowed: {', '.join(REMOVABLE_REPOSITORY_FIELDS)}"
            )
        if value not in out:
            out.append(value)
    return out


def _webhook_url(value: Any) -> str:
    url = _string("url", value, non_empty=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, f"url {url!r} must be an http(s) URL with a host")
    return url


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, f"events must be a non-empty array of: {', '.join(WEBHOOK_EVENTS)}")
    out: list[str] = []
    for i, event in enumerate(value):
        _choice(f"events[{i}]", event, WEBHOOK_EVENTS)
        if event in out:
            raise ApiError(400, f"events[{i}] repeats {event!r}")
        out.append(event)
    return out


def validate_webhook(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """PascalCase Webhook fields from a camelCase POST ``{url, events, description?}`` or PUT body.

    PUT (``partial``) also accepts ``status`` and needs at least one field.
    """
    allowed = ("url", "events", "description", "status") if partial else ("url", "events", "description")
    _reject_unknown(body, allowed)
    if partial and not body:
        raise ApiError(400, f"Request body must set at least one of: {', '.join(allowed)}")
    if not partial:
        _require(body, ("url", "events"))
    out: dict[str, Any] = {}
    if "url" in body:
        out["URL"] = _webhook_url(body["url"])
    if "events" in body:
        out["Events"] = _events(body["events"])
    if "description" in body:
        out["Description"] = _string("description", body["description"])
    if "status" in body:
        out["Status"] = _choice("status", body["status"], WEBHOOK_STATUSES)
    return out


def health_details() -> list[tuple[str, dict[str, Any]]]:
    """``GET /health``: each service with the ``details`` the reference shows (response times in ms;
    the emulator runs no builds or tasks, so it reports no last build or task)."""
    api = {"responseTime": 1, "endpoints": {"builds": {"status": 200, "responseTime": 1},
                                            "tasks": {"status": 200, "responseTime": 1}}}  # fmt: skip
    return [("scdp", {"responseTime": 1}), ("scce-api", api),
            ("scce-compute", {"responseTime": 1}), ("scce-build", {"responseTime": 1})]  # fmt: skip
