"""Reading the Signaloid emulator's answers in either casing from tests, without reconciler code:
camelCase keys (``coreId``, ``remoteUrl``) are mapped back to the reference's PascalCase names."""

from __future__ import annotations

from typing import Any

__all__ = ["REFERENCE_NAMES", "to_pascal"]

REFERENCE_NAMES = (
    "Object", "CoreID", "Owner", "Name", "Class", "Precision", "MemorySize", "Microarchitecture",
    "CorrelationTracking", "CreatedAt", "UpdatedAt", "RepositoryID", "RemoteURL", "Commit", "Branch",
    "BuildDirectory", "Arguments", "Core", "DataSources", "TraceVariables", "ResourceID", "ResourceType",
    "Location", "File", "LineNumber", "Expression", "WebhookID", "URL", "Events", "Description", "Status",
    "Secret", "FailureCount", "LastDeliveryStatus", "LastDeliveryTime",
)  # fmt: skip
_BY_LOWER = {name.lower(): name for name in REFERENCE_NAMES}


def to_pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {_BY_LOWER.get(key.lower(), key): to_pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_pascal(item) for item in value]
    return value
