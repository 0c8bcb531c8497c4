"""What the stack manages: per address, the remote id, natural key and applied digest.

State holds no secrets. It is written after every successful call (``record``), so a crash
loses nothing. Losing it entirely is not a disaster: resources are found again by their
natural key and adopted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.values import Ref, Unknown

__all__ = ["StateEntry", "StateSnapshot", "StateStore", "digest"]


@dataclass(frozen=True, slots=True)
class StateEntry:
    kind: str
    remote_id: str
    key: tuple[str, ...]
    digest: str  # of the desired attrs as last applied
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a sequence's package digest

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remote_id": self.remote_id,
            "key": list(self.key),
            "digest": self.digest,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StateEntry:
        return cls(
            kind=data["kind"],
            remote_id=data["remote_id"],
            key=tuple(data["key"]),
            digest=data.get("digest", ""),
            extra=data.get("extra") or {},
        )


@dataclass(frozen=True)
class StateSnapshot:
    entries: Mapping[str, StateEntry] = field(default_factory=dict)

    def get(self, address: str) -> StateEntry | None:
        return self.entries.get(address)

    def kinds(self) -> set[str]:
        return {e.kind for e in self.entries.values()}


class StateStore(Protocol):
    """A state backend. ``record`` persists one address (None removes it) before returning."""

    description: str

    def read(self) -> StateSnapshot: ...

    async def record(self, address: str, entry: StateEntry | None) -> None: ...

    def lock(self, purpose: str, *, timeout: float = 0.0) -> Any:
        """A context manager held for the whole of an apply; waits up to ``timeout`` seconds for
        another holder, then raises LockHeld naming it."""
        ...

    async def fence(self) -> None:
        """While the lock is held: raise LockLost if it no longer is (checked before each action
        and each write, so a run that lost its lock stops instead of racing another)."""
        ...


def _canonical(value: Any) -> Any:
    if isinstance(value, Ref):
        return {"$ref": value.address}
    if isinstance(value, Unknown):
        return {"$unknown": True}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def digest(attrs: Mapping[str, Any]) -> str:
    """A stable digest of desired attrs (references by address, so a new id does not change it)."""
    text = json.dumps(_canonical(attrs), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
