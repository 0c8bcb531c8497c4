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
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.errors import StateError
from reconciler.state.entry import READABLE_VERSIONS, StateEntry, parse_entry
from reconciler.state.waiting import LockWatcher, StateLock
from reconciler.values import Ref, Unknown

if TYPE_CHECKING:
    from reconciler.kinds import Kind

__all__ = [
    "StateEntry",
    "StateSnapshot",
    "StateStore",
    "digest",
    "entries_from_json",
    "entry_from_json",
    "location",
]

MAX_LOCATION = 500  # characters of a state location shown (a path may be long; a page is not)


def entries_from_json(
    data: Any, where: object, kinds: Mapping[str, Kind] | None = None
) -> dict[str, StateEntry]:
    """A state document's entries (format 1, migrated, or 2), or StateError naming the entry and
    field that is wrong. ``kinds``: the kinds by name (default: the shipped registry)."""
    if not isinstance(data, Mapping):
        raise StateError(f"{where}: not a state file (a JSON object with format_version and resources)")
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise StateError(
            f"{where}: unsupported state format {version!r} "
            f"(this reconciler reads {' and '.join(map(str, READABLE_VERSIONS))})"
        )
    resources = data.get("resources", {})
    if not isinstance(resources, Mapping):
        raise StateError(f"{where}: 'resources' must be an object (address -> entry)")
    kinds = _shipped_kinds() if kinds is None else kinds
    return {
        address: entry_from_json(address, raw, version, where, kinds) for address, raw in resources.items()
    }


def _shipped_kinds() -> Mapping[str, Kind]:
    from reconciler.kinds import KINDS_BY_NAME  # here: importing state alone needs no kind

    return KINDS_BY_NAME


def entry_from_json(
    address: str, raw: Any, version: int, where: object, kinds: Mapping[str, Kind] | None = None
) -> StateEntry:
    """One entry of state format ``version`` at ``address``, or StateError naming it and the field.
    ``kinds``: the kinds by name (default: the shipped registry)."""
    kinds = _shipped_kinds() if kinds is None else kinds
    name = raw.get("kind") if isinstance(raw, dict) else None
    kind = kinds.get(name) if isinstance(name, str) else None
    try:
        entry = parse_entry(raw, version, None if kind is None else kind.state_fields)
    except ValueError as exc:
        raise StateError(f"{where}: entry {address!r}: {exc}") from exc
    if kind is None:
        raise StateError(f"{where}: entry {address!r}: unknown kind {entry.kind!r}")
    if not address.startswith(f"{entry.kind}.") or len(address) == len(entry.kind) + 1:
        raise StateError(f"{where}: entry {address!r}: the address must be '{entry.kind}.<name>'")
    return entry


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
