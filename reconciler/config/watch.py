"""The stack's ``watch:`` section (what ``reconciler watch`` may do to it) and the durations it
is written in (``30s``, ``5m``, ``1h``, ``1h30m``: as Argo CD and Flux users write them)."""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictBool

__all__ = ["MIN_INTERVAL_S", "WatchSettings", "parse_duration"]

MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 7 * 24 * 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str, *, minimum: float = MIN_INTERVAL_S, maximum: float = MAX_INTERVAL_S) -> float:
    """Seconds in ``text`` (``30s``, ``5m``, ``1h30m``, ``1.5s``); ValueError saying what was expected."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not cleaned or _PART.sub("", cleaned) != "":
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1h30m, got {text!r}")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))
    if not minimum <= seconds <= maximum:
        raise ValueError(f"a duration from {minimum:g}s to {maximum / 86400:g}d, got {text!r}")
    return seconds


class WatchSettings(BaseModel):
    """What ``reconciler watch`` may do to this stack. Left out, the flags of ``watch`` decide
    (a value written here wins over the flag); nothing is written unless ``sync`` or ``heal``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sync: StrictBool = Field(default=False, description="apply configuration changes (what was merged)")
    heal: StrictBool = Field(default=False, description="revert drift (live objects changed outside)")
    allow_delete: StrictBool = Field(
        default=False, description="let sync and heal delete or replace objects (never without this)"
    )
    suspend: StrictBool = Field(default=False, description="check and report only, write nothing")
    interval: str | None = Field(
        default=None, description="how often to check this stack, e.g. 30s, 5m, 1h (default: --interval)"
    )

    @pydantic.field_validator("interval", mode="before")
    @classmethod
    def _a_duration(cls, value: Any) -> Any:
        if value is not None:
            if not isinstance(value, str):
                raise ValueError("expected a duration such as 30s, 5m or 1h (a string)")
            parse_duration(value)
        return value

    @property
    def interval_s(self) -> float | None:
        return parse_duration(self.interval) if self.interval else None
