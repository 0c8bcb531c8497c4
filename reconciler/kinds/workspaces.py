"""Steamship workspaces, named by their handle (the logical name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds.base import Kind, SpecModel
from reconciler.kinds.fields import STEAMSHIP_HANDLE
from reconciler.values import LiveObject, LiveState

# The kind whose objects live inside a workspace and go when it is deleted.
_CONTENTS = "package_instances"


class WorkspaceSpec(SpecModel):
    """A Steamship workspace. The logical name (the key under ``workspaces:``) is its handle."""


def _key(name: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    return (name,)


def unmanaged_contents(obj: LiveObject, live: LiveState, managed: frozenset[tuple[str, str]]) -> list[str]:
    """Package instances in the workspace that this stack does not manage.

    The engine deletes a workspace's instances with it, so deleting the workspace would delete them
    too: the plan refuses unless the user opts in for this address.
    """
    return [
        f"{_CONTENTS} {inst.name!r} ({inst.remote_id})"
        for inst in live.objects.get(_CONTENTS, [])
        if inst.extra.get("workspace_id") == obj.remote_id and (_CONTENTS, inst.remote_id) not in managed
    ]


KIND = Kind(
    name="workspaces",
    provider="steamship",
    spec=WorkspaceSpec,
    summary="Steamship workspaces (the logical name is the workspace handle)",
    natural_key=_key,
    key_doc="the workspace handle (the logical name)",
    name_is_remote=True,
    delete_guard=unmanaged_contents,
    name_rule=STEAMSHIP_HANDLE,
)
