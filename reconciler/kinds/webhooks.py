"""Signaloid webhooks. The secret Signaloid issues is never read into a plan or printed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from reconciler.kinds.base import Kind, SpecModel
from reconciler.kinds.fields import HttpUrlStr
from reconciler.kinds.normalise import as_set

Event = Literal["task-status", "build-status", "task-stats", "build-stats", "task-count", "build-count"]


class WebhookSpec(SpecModel):
    """A webhook. Found without state by its URL."""

    url: HttpUrlStr
    events: Annotated[list[Event], Field(min_length=1, description="at least one; order does not matter")]
    description: str | None = None
    status: Literal["active", "disabled"] = "active"


def _key(name: str, attrs: Any) -> tuple[str, ...]:
    return (str(attrs.get("url") or ""),)


KIND = Kind(
    name="webhooks",
    provider="signaloid",
    spec=WebhookSpec,
    summary="Signaloid webhooks",
    natural_key=_key,
    key_doc="the webhook URL",
    normalisers={"events": as_set},
    create_before_destroy=True,  # two webhooks may share a URL
)
