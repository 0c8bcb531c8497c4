"""Steamship payloads → LiveObjects, tasks and error text. Pure functions, no I/O.

Bodies are camelCase (ARCHITECTURE.md, "The three APIs"). A package instance names its workspace by
``workspaceHandle`` when the engine includes it, else by ``workspaceId`` (mapped to a handle
from the workspace list). The invocation URL is ``invocationURL`` on the wire (what the
official client reads), ``invocationUrl`` in the API's notes: both are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ProviderError
from reconciler.kinds import package_instances, workspaces
from reconciler.providers.base import fingerprint
from reconciler.values import LiveObject

__all__ = [
    "instance_body",
    "is_task",
    "parse_instance",
    "parse_workspace",
    "status_text",
    "unwrap",
]

INIT_VOLATILE = ("initStatus", "initStatusMessage")


def unwrap(body: Any, call: str) -> Any:
    """The ``data`` of a ``{"data": ...}`` envelope."""
    if not isinstance(body, Mapping) or "data" not in body:
        raise ProviderError(f"{call} returned an unexpected body (no data): {str(body)[:200]!r}")
    return body["data"]


def is_task(body: Any) -> bool:
    return isinstance(body, Mapping) and isinstance(body.get("status"), Mapping)


def status_text(status: Mapping[str, Any]) -> str:
    """The engine's own words for a failed task: message, [code], (suggestion)."""
    text = str(status.get("statusMessage") or "no message from the engine")
    if status.get("statusCode"):
        text += f" [{status['statusCode']}]"
    if status.get("statusSuggestion"):
        text += f" ({status['statusSuggestion']})"
    return text


def _object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise ProviderError(f"steamship returned a {what} that is not an object: {str(payload)[:100]!r}")
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        raise ProviderError(f"steamship returned a {what} without an id: {str(payload)[:200]!r}")
    return payload


def parse_workspace(payload: Any) -> LiveObject:
    ws = _object(payload, "workspace")
    handle = str(ws.get("handle") or "")
    return workspaces.KIND.live(ws["id"], {}, handle, fingerprint(ws))


def parse_instance(payload: Any, workspace_handles: Mapping[str, str] | None = None) -> LiveObject:
    """A package instance; ``workspace_handles`` maps workspace ids to handles when the payload lacks one."""
    inst = _object(payload, "package instance")
    ws_id = str(inst.get("workspaceId") or "")
    workspace = inst.get("workspaceHandle") or (workspace_handles or {}).get(ws_id, "")
    handle = str(inst.get("handle") or "")
    config = inst.get("config")
    attrs = {
        "workspace": workspace,
        "package": inst.get("packageHandle"),
        "version": inst.get("packageVersionHandle"),
        "config": dict(config) if isinstance(config, dict) else {},
    }
    extra = {
        "workspace_id": ws_id,
        "init_status": inst.get("initStatus"),
        "init_message": inst.get("initStatusMessage"),
        "invocation_url": inst.get("invocationURL") or inst.get("invocationUrl"),
    }
    return package_instances.KIND.live(
        inst["id"], attrs, handle, fingerprint(inst, INIT_VOLATILE), {k: v for k, v in extra.items() if v}
    )


def instance_body(handle: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``package/instance/create``: fetchIfExists is off, so a handle already taken is an error."""
    body: dict[str, Any] = {
        "packageHandle": attrs["package"],
        "handle": handle,
        "fetchIfExists": False,
        "config": {k: v for k, v in (attrs.get("config") or {}).items() if v is not None},
    }
    if attrs.get("version"):
        body["packageVersionHandle"] = attrs["version"]
    return body
