"""Steamship package instances: a deployed package, configured, in a workspace.

The engine has no update call, so every field forces a replacement. ``config`` is compared on the keys the
user wrote only: the engine stores the package's template defaults along with the given values, and a key
left out of the YAML is not managed (ARCHITECTURE.md, "Invariants": fields left out are not reset). Numbers
and numeric strings compare equal, as the engine coerces them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from reconciler.kinds.base import Kind, Reference, SpecModel
from reconciler.kinds.fields import STEAMSHIP_HANDLE, NonEmptyStr
from reconciler.values import LiveObject, Ref

NO_UPDATE = "package instances cannot be updated (the engine has no update call)"


def _version_is_text(value: Any) -> Any:
    # YAML reads `version: 1.10` as the float 1.1: refuse rather than guess the version meant.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'a version is text: write it in quotes, e.g. version: "{value}"')
    return value


class PackageInstanceSpec(SpecModel):
    """A package instance. The logical name (the key under ``package_instances:``) is its handle."""

    workspace: NonEmptyStr = Field(description="a workspace of this stack, or the handle of an existing one")
    package: NonEmptyStr = Field(description="the package handle, e.g. summarize-text")
    version: Annotated[NonEmptyStr, BeforeValidator(_version_is_text)] | None = Field(
        default=None,
        description="the package version handle; absent: the latest at creation, then left alone",
    )
    config: dict[str, Any] | None = Field(
        default=None,
        description="checked by the engine against the package's config template; keys left out "
        "take the template default and are not managed",
    )


def _key(name: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    workspace = attrs.get("workspace")
    return (workspace.name if isinstance(workspace, Ref) else str(workspace or ""), name)


def _scalar(value: Any) -> Any:
    """The value the engine stores for ``value``: numeric and boolean strings become numbers/booleans."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for parse in (int, float):
        try:
            number = parse(text)
        except ValueError:
            continue
        return number if math.isfinite(number) else value
    return value


def normalise_config(value: Any) -> Any:
    """Config as the engine stores it: coerced scalars, and ``null`` meaning "not given"."""
    if isinstance(value, Mapping):
        return {str(k): normalise_config(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [normalise_config(v) for v in value]
    return _scalar(value)


def failed_init(obj: LiveObject) -> str | None:
    if obj.extra.get("init_status") != "failed":
        return None
    message = obj.extra.get("init_message") or "no message from the engine"
    return f"its initialisation failed ({message})"


KIND = Kind(
    name="package_instances",
    provider="steamship",
    spec=PackageInstanceSpec,
    summary="Steamship package instances (the logical name is the instance handle)",
    natural_key=_key,
    key_doc="(workspace handle, instance handle)",
    replace_fields={name: NO_UPDATE for name in ("workspace", "package", "version", "config")},
    normalisers={"config": normalise_config},
    partial_mappings=frozenset({"config"}),
    references={
        "workspace": Reference(kind="workspaces", resolves_to="name", literal=re.compile(STEAMSHIP_HANDLE[0]))
    },
    tainted=failed_init,
    name_rule=STEAMSHIP_HANDLE,
)
