"""Field types shared by the kind specs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints


def _reject_bool(value: Any) -> Any:
    # YAML's `yes`/`true` must not silently become 1; strings such as "128" (from ${env:...}) may.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Integer = Annotated[int, BeforeValidator(_reject_bool)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
HttpUrlStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^https?://[^\s/$.?#][^\s]*$"),
    Field(description="an http:// or https:// URL"),
]

# Steamship handles (workspaces, package instances): what the engine accepts; the emulator checks
# the same. A logical name that is a handle follows it (``Kind.name_rule``).
STEAMSHIP_HANDLE = (
    r"^[a-z0-9][a-z0-9-]{0,99}$",
    "a Steamship handle has 1-100 lowercase letters, digits and dashes, and starts with a letter or digit",
)
