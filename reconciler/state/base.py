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

from reconciler.errors import StateError
from reconciler.state.waiting import LockWatcher, StateLock
from reconciler.values import Ref, Unknown

__all__ = ["StateEntry", "StateSnapshot", "StateStore", "digest", "entries_from_json", "location"]

MAX_LOCATION = 500  # characters of a state location shown (a path may be long; a page is not)


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
    def from_json(cls, data: Any) -> StateEntry:
        """Strict: an entry of the wrong shape (a file edited by hand, or by someone hostile) is a
        ValueError saying which field, never a value the engine trips over later."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an entry must be an object, not {type(data).__name__}")
        kind, remote_id, key = data.get("kind"), data.get("remote_id"), data.get("key")
        digest_, extra = data.get("digest", ""), data.get("extra") or {}
        if not isinstance(kind, str) or not kind:
            raise ValueError("'kind' must be a kind's name")
        if not isinstance(remote_id, str) or not remote_id:
            raise ValueError("'remote_id' must be a non-empty string")
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise ValueError("'key' must be a list of strings")
        if not isinstance(digest_, str):
            raise ValueError("'digest' must be a string")
        if not isinstance(extra, Mapping):
            raise ValueError("'extra' must be an object")
        deposed = extra.get("deposed", [])
        if not isinstance(deposed, list) or not all(isinstance(i, str) for i in deposed):
            raise ValueError("'extra.deposed' must be a list of remote ids")
        return cls(kind=kind, remote_id=remote_id, key=tuple(key), digest=digest_, extra=extra)


def entries_from_json(data: Any, where: object, version: int = 1) -> dict[str, StateEntry]:
    """A state document's entries, or StateError naming the entry and field that is wrong."""
    if not isinstance(data, Mapping):
        raise StateError(f"{where}: not a state file (a JSON object with format_version and resources)")
    if data.get("format_version") != version:
        raise StateError(f"{where}: unsupported state format {data.get('format_version')!r}")
    resources = data.get("resources", {})
    if not isinstance(resources, Mapping):
        raise StateError(f"{where}: 'resources' must be an object (address -> entry)")
    from reconciler.kinds import KINDS_BY_NAME  # here: reading state alone needs no kind

    entries = {}
    for address, raw in resources.items():
        try:
            entry = StateEntry.from_json(raw)
        except ValueError as exc:
            raise StateError(f"{where}: entry {address!r}: {exc}") from exc
        if entry.kind not in KINDS_BY_NAME:
            raise StateError(f"{where}: entry {address!r}: unknown kind {entry.kind!r}")
        if not address.startswith(f"{entry.kind}.") or len(address) == len(entry.kind) + 1:
            raise StateError(f"{where}: entry {address!r}: the address must be '{entry.kind}.<name>'")
        entries[address] = entry
    return entries


@dataclass(frozen=True)
class StateSnapshot:
    entries: Mapping[str, StateEntry] = field(default_factory=dict)

    def get(self, address: str) -> StateEntry | None:
        return self.entries.get(address)

    def kinds(self) -> set[str]:
        return {e.kind for e in self.entries.values()}


class StateStore(Protocol):
    """A state backend. ``record`` persists one address (None removes it) before returning."""

    backend: str  # "local" or "postgres"
    description: str  # where, in words, naming no credential (a DSN shows as host:port/dbname)

    def read(self) -> StateSnapshot: ...

    async def record(self, address: str, entry: StateEntry | None) -> None: ...

    def lock(self, purpose: str, *, timeout: float = 0.0, watcher: LockWatcher | None = None) -> StateLock:
        """The lock, held for the whole of an apply (``async with``: the wait never blocks the event
        loop); waits up to ``timeout`` seconds for another holder, telling ``watcher`` who it is,
        then raises LockHeld naming it."""
        ...

    async def fence(self) -> None:
        """While the lock is held: raise LockLost if it no longer is (checked before each action
        and each write, so a run that lost its lock stops instead of racing another)."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a database connection); the session calls it once."""
        ...


def location(store: StateStore) -> dict[str, str]:
    """Where the stack's state is, as the plan JSON's ``state`` says it (``docs/plan-format.md``):
    the backend and the store's description, bounded and redacted as anything shown is."""
    from reconciler.common.redact import excerpt

    return {"backend": store.backend, "description": excerpt(store.description, limit=MAX_LOCATION)}


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
