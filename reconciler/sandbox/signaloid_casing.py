"""Signaloid's two spellings of the same fields: the reference's PascalCase (``WebhookID``,
``RemoteURL``) and the camelCase of Signaloid's own TypeScript SDK types (``webhookId``, ``secret``).

The emulator answers in either (``casing="camel"``: every object it returns, at any depth; the list
envelopes ``Cores``/``Repositories``/``Count``/``ContinuationKey`` stay as the reference shows them).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CASINGS", "camel", "camel_keys"]

CASINGS = ("pascal", "camel")
_ACRONYM_TAIL = re.compile(r"(ID|URL)$")


def camel(name: str) -> str:
    """``WebhookID`` → ``webhookId``, ``RemoteURL`` → ``remoteUrl``, ``URL`` → ``url``."""
    name = _ACRONYM_TAIL.sub(lambda m: m.group(1).capitalize(), name)
    return name[:1].lower() + name[1:]


def camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(key): camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    return value
