"""What the engine asks of a provider. Providers know HTTP, nothing of plans; this protocol names
nothing of HTTP, so what uses it loads no HTTP library."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from reconciler.providers.stats import CallStats
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["Provider", "fingerprint"]


class Provider(Protocol):
    """One API. Which kinds it serves is declared once, by each kind (``Kind.provider``)."""

    name: str

    def stats(self) -> CallStats:
        """Requests, retries and 429s so far, over every client the provider holds: a snapshot,
        so that two readings can be subtracted."""

    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        """List every object of ``kinds`` (all pages) into ``live``: each page with
        ``live.extend(kind, objects)`` as it arrives, then ``live.listed(kind)`` once the kind is
        complete, so the plan can work on it while other lists are still on the way (the
        session marks complete any kind a provider does not)."""

    async def create(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        """Create from resolved ``attrs`` (all fields, defaults included); return the new object."""

    async def update(
        self, desired: Desired, live: LiveObject, attrs: Mapping[str, Any], changed: set[str]
    ) -> LiveObject | None:
        """Change ``changed`` fields in place (``attrs`` are the resolved managed fields)."""

    async def delete(self, kind: str, live: LiveObject) -> None:
        """Delete; an object already gone is not an error."""

    async def aclose(self) -> None: ...


def fingerprint(payload: Mapping[str, Any], volatile: tuple[str, ...] = ()) -> Callable[[], str]:
    """A digest of a raw API object, less fields that change on their own (counters, secrets).

    Lazy: it returns the computation, for ``LiveObject.fingerprint_source``; the digest is made
    only for the objects a saved plan binds to, not for everything a refresh lists.
    """

    def compute() -> str:
        kept = {k: v for k, v in payload.items() if k not in volatile}
        text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    return compute
