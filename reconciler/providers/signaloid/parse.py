"""Signaloid payloads → LiveObjects, and spec attrs → request bodies. Pure functions, no I/O.

Payloads are decoded JSON, so an object is a ``dict`` (checked as such: ``isinstance`` against
the ``Mapping`` ABC costs several times more, once per field of every listed object).

Responses are PascalCase in the reference and camelCase in Signaloid's own SDK types (``webhookId``,
``secret``); every parser reads both (``_pascal``: a payload without the PascalCase id is renamed, key by
key, case-insensitively). Webhook requests are camelCase (ARCHITECTURE.md, "The three APIs"). A webhook's
``Secret`` is never read into a LiveObject, and is left out of its fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ProviderError
from reconciler.kinds import cores, repositories, webhooks
from reconciler.providers.base import fingerprint
from reconciler.values import LiveObject

CORE_FIELDS = {
    "class": "Class",
    "microarchitecture": "Microarchitecture",
    "precision": "Precision",
    "memory_size": "MemorySize",
    "correlation_tracking": "CorrelationTracking",
}
REPOSITORY_FIELDS = {
    "remote_url": "RemoteURL",
    "branch": "Branch",
    "commit": "Commit",
    "build_directory": "BuildDirectory",
    "arguments": "Arguments",
    "core": "Core",
    "data_sources": "DataSources",
    "trace_variables": "TraceVariables",
}
REMOVABLE = {"core": "Core", "data_sources": "DataSources", "trace_variables": "TraceVariables"}
DATA_SOURCE_FIELDS = {"resource_id": "ResourceID", "resource_type": "ResourceType", "location": "Location"}
TRACE_FIELDS = {"file": "File", "line_number": "LineNumber", "expression": "Expression"}
WEBHOOK_VOLATILE = ("Secret", "FailureCount", "LastDeliveryStatus", "LastDeliveryTime", "UpdatedAt")


_KNOWN = (
    *CORE_FIELDS.values(), *REPOSITORY_FIELDS.values(), *DATA_SOURCE_FIELDS.values(), *TRACE_FIELDS.values(),
    *WEBHOOK_VOLATILE, "CoreID", "RepositoryID", "WebhookID", "Name", "Owner", "Object", "CreatedAt",
    "URL", "Events", "Description", "Status",
)  # fmt: skip
_PASCAL = {name.lower(): name for name in _KNOWN}


def _pascal(payload: Any, marker: str) -> Any:
    """``payload`` with its known keys in PascalCase: as is when ``marker`` is there (the reference's
    spelling, the fast path), else renamed case-insensitively (``coreId``, ``remoteUrl``, ``secret``)."""
    if not isinstance(payload, dict) or marker in payload:
        return payload
    return {
        _PASCAL.get(key.lower(), key): [_pascal(item, "") for item in v] if isinstance(v, list) else v
        for key, v in payload.items()
    }


def _get(payload: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in payload:
            return payload[name]
    return default


def _require(payload: Any, id_field: str, what: str) -> str:
    if not isinstance(payload, dict):
        raise ProviderError(f"signaloid returned a {what} that is not an object: {str(payload)[:100]!r}")
    value = payload.get(id_field)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"signaloid returned a {what} without {id_field}: {str(payload)[:200]!r}")
    return value


def parse_core(payload: Any) -> LiveObject:
    payload = _pascal(payload, "CoreID")
    core_id = _require(payload, "CoreID", "core")
    name = str(payload.get("Name", ""))
    attrs = {ours: payload.get(theirs) for ours, theirs in CORE_FIELDS.items()}
    return cores.KIND.live(core_id, attrs, name, fingerprint(payload, ("UpdatedAt",)))


def _rename(items: Any, mapping: Mapping[str, str]) -> Any:
    if not isinstance(items, list):
        return items
    marker = next(iter(mapping.values()))
    return [
        {ours: _pascal(item, marker).get(theirs) for ours, theirs in mapping.items()}
        if isinstance(item, dict)
        else item
        for item in items
    ]


def parse_repository(payload: Any) -> LiveObject:
    payload = _pascal(payload, "RepositoryID")
    repo_id = _require(payload, "RepositoryID", "repository")
    attrs = {ours: payload.get(theirs) for ours, theirs in REPOSITORY_FIELDS.items()}
    attrs["data_sources"] = _rename(attrs["data_sources"], DATA_SOURCE_FIELDS)
    attrs["trace_variables"] = _rename(attrs["trace_variables"], TRACE_FIELDS)
    return repositories.KIND.live(repo_id, attrs, None, fingerprint(payload))


def parse_webhook(payload: Any) -> LiveObject:
    payload = _pascal(payload, "WebhookID")
    hook_id = _require(payload, "WebhookID", "webhook")
    attrs = {
        "url": _get(payload, "URL", "Url", "url"),
        "events": _get(payload, "Events", "events"),
        "description": _get(payload, "Description", "description"),
        "status": _get(payload, "Status", "status"),
    }
    return webhooks.KIND.live(hook_id, attrs, None, fingerprint(payload, WEBHOOK_VOLATILE))


def core_body(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    body = {"Name": name}
    body.update({theirs: attrs[ours] for ours, theirs in CORE_FIELDS.items()})
    return body


def repository_body(attrs: Mapping[str, Any], fields: set[str] | None = None) -> dict[str, Any]:
    """Request body with ``fields`` (default: every field with a value)."""
    body: dict[str, Any] = {}
    for ours, theirs in REPOSITORY_FIELDS.items():
        if fields is not None and ours not in fields:
            continue
        value = attrs.get(ours)
        if value is None:
            continue
        if ours == "data_sources":
            value = [{DATA_SOURCE_FIELDS[k]: v for k, v in item.items()} for item in value]
        elif ours == "trace_variables":
            value = [{TRACE_FIELDS[k]: v for k, v in item.items()} for item in value]
        body[theirs] = value
    return body


def webhook_body(attrs: Mapping[str, Any], fields: set[str] | None = None) -> dict[str, Any]:
    """camelCase, as the webhook endpoints take it."""
    names = {"url": "url", "events": "events", "description": "description", "status": "status"}
    return {
        theirs: attrs[ours]
        for ours, theirs in names.items()
        if (fields is None or ours in fields) and attrs.get(ours) is not None
    }
