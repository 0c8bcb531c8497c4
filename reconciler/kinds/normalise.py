"""Normalisers: turn a value into the form two equal values share, so diffs do not flap."""

from __future__ import annotations

from typing import Any


def casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def as_set(value: Any) -> Any:
    """A list whose order and repeats carry no meaning (e.g. webhook events)."""
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(set(value), key=str)
    return value


def empty_as_none(value: Any) -> Any:
    """APIs often return "" or [] for a field never set; treat those as absent."""
    return None if value in ("", [], {}) else value
