"""Each stack's history: events on transitions only (never one per check), kept bounded.

An event is what changed: ``drifted`` (in sync → drifted), ``pending`` (configuration waiting),
``in_sync`` (back in sync, not by us), ``synced`` and ``healed`` (what watch applied, with the
addresses), ``apply_failed``, ``contested`` (a resource given up), ``uncontested`` (it came back
in sync), ``errored`` and ``recovered``. Each carries the stack's status after it, so the last
event says what the stack was when this process (or another replica) last looked: a restart does
not announce again what was already announced.

The store is the state backend's: with PostgreSQL coordination a table (``coordination.py``),
else a JSON file beside the stack's local state (:class:`LocalHistory`). At most ``KEEP`` events
per stack are kept.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.common.paths import read_capped, write_atomic
from reconciler.common.words import plural

__all__ = [
    "KEEP",
    "NOTIFIED",
    "Event",
    "HistoryStore",
    "LocalHistory",
    "Outcome",
    "contested_addresses",
    "marked_contested",
    "transitions",
]

KEEP = 100
NOTIFIED = frozenset({"drifted", "synced", "healed", "apply_failed", "contested", "errored", "recovered"})
MAX_HISTORY_BYTES = 1 << 20
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Event:
    at: float  # Unix time
    event: str
    status: str  # the stack's status after the event
    message: str = ""
    addresses: tuple[str, ...] = ()
    replica: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at": datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "at_unix": self.at,
            "event": self.event,
            "status": self.status,
            "message": self.message,
            "addresses": list(self.addresses),
            "replica": self.replica,
        }

    @classmethod
    def from_json(cls, data: Any) -> Event:
        """Strict, as state is: a file edited by hand is a ValueError, never a crash later."""
        if not isinstance(data, Mapping):
            raise ValueError("an event must be an object")
        at, event, status = data.get("at_unix"), data.get("event"), data.get("status")
        message, addresses, replica = (
            data.get("message", ""),
            data.get("addresses", []),
            data.get("replica", ""),
        )
        if not isinstance(at, int | float) or isinstance(at, bool):
            raise ValueError("'at_unix' must be a number")
        if not all(isinstance(v, str) for v in (event, status, message, replica)):
            raise ValueError("'event', 'status', 'message' and 'replica' must be strings")
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise ValueError("'addresses' must be a list of strings")
        return cls(float(at), str(event), str(status), str(message), tuple(addresses), str(replica))


@dataclass(frozen=True)
class Outcome:
    """What one check found and did, as transitions are worked out from it."""

    status: str  # errored, drifted, pending, in_sync
    error: str | None = None
    synced: tuple[str, ...] = ()
    healed: tuple[str, ...] = ()
    apply_error: str | None = None
    contested: tuple[str, ...] = ()  # newly given up
    uncontested: tuple[str, ...] = ()
    pending_addresses: tuple[str, ...] = field(default=())


def transitions(previous: str | None, outcome: Outcome, *, at: float, replica: str) -> list[Event]:
    """The events one check adds (none when nothing changed). ``previous``: the status of the
    stack's last event (None: never seen, taken as in sync)."""
    status, before = outcome.status, previous or "in_sync"
    found: list[Event] = []

    def add(event: str, message: str = "", addresses: Iterable[str] = ()) -> None:
        found.append(Event(at, event, status, message[:MAX_MESSAGE], tuple(addresses), replica))

    if outcome.synced:
        add("synced", f"applied configuration to {plural(len(outcome.synced), 'resource')}", outcome.synced)
    if outcome.healed:
        add("healed", f"reverted drift of {plural(len(outcome.healed), 'resource')}", outcome.healed)
    if outcome.apply_error:
        add("apply_failed", outcome.apply_error)
    if outcome.contested:
        add("contested", "changed again and again outside reconciler: no longer healed", outcome.contested)
    if outcome.uncontested:
        add("uncontested", "back in sync: healed again when it drifts", outcome.uncontested)
    if status == "errored" and before != "errored":
        add("errored", outcome.error or "")
    elif status != "errored" and before == "errored":
        add("recovered", f"checked again: {status.replace('_', ' ')}")
    if status != before and status in ("drifted", "pending"):
        add(status, ", ".join(outcome.pending_addresses[:10]), outcome.pending_addresses)
    elif status == "in_sync" and before in ("drifted", "pending") and not (outcome.synced or outcome.healed):
        add("in_sync", "live state matches the configuration again")
    return found


def contested_addresses(events: Sequence[Event], *, now: float, window_s: float, limit: int) -> set[str]:
    """Resources given up: healed ``limit`` times within ``window_s`` (heals before the last time
    one came back in sync do not count), or marked contested and not back in sync since."""
    heals: Counter[str] = Counter()
    for event in events:  # oldest first
        if event.event == "uncontested":
            for address in event.addresses:
                heals.pop(address, None)
        elif event.event == "healed" and now - event.at <= window_s:
            heals.update(event.addresses)
    return marked_contested(events) | {a for a, n in heals.items() if n >= limit}


def marked_contested(events: Sequence[Event]) -> set[str]:
    """Resources a ``contested`` event gave up and no ``uncontested`` event took back since."""
    marked: set[str] = set()
    for event in events:
        if event.event == "contested":
            marked.update(event.addresses)
        elif event.event == "uncontested":
            marked.difference_update(event.addresses)
    return marked


class HistoryStore(Protocol):
    async def recent(self, stack: str, folder: Path) -> list[Event]:
        """The stack's kept events, oldest first."""
        ...

    async def append(self, stack: str, folder: Path, events: Sequence[Event]) -> None: ...


class LocalHistory:
    """One JSON file per stack, beside its local state: ``.reconciler/watch-history.json``."""

    NAME = "watch-history.json"

    def path(self, folder: Path) -> Path:
        return folder / ".reconciler" / self.NAME

    async def recent(self, stack: str, folder: Path) -> list[Event]:
        path = self.path(folder)
        if not path.exists():
            return []
        text = read_capped(path, MAX_HISTORY_BYTES).decode("utf-8", errors="replace")
        try:
            data = json.loads(text)
            if not isinstance(data, list):
                raise ValueError("expected a list of events")
            return [Event.from_json(item) for item in data]
        except (ValueError, RecursionError) as exc:
            raise OSError(f"{path}: not a watch history ({exc}); remove it to start afresh") from None

    async def append(self, stack: str, folder: Path, events: Sequence[Event]) -> None:
        if not events:
            return
        kept = [*(await self.recent(stack, folder)), *events][-KEEP:]
        write_atomic(self.path(folder), json.dumps([e.to_json() for e in kept], indent=1) + "\n")
