"""The alias-expansion guard: refuse YAML whose aliases multiply what is written ("billion laughs").

A YAML alias (``*a``) stands for the whole value its anchor (``&a``) names, and the loader builds
a fresh copy for every use, so nine short lines can stand for a billion values. What is *written*
is already bounded by the file-size cap; this guard bounds what aliases *add*, relative to it: a
document may expand to at most ``EXPANSION_RATIO`` times the values it writes (or to
``EXPANSION_FLOOR`` values, whichever is more, so a small file may lean on anchors freely), and
never beyond the caller's ``ceiling``: as many values as the largest file allowed can write, so
aliases never make a document cost more than the size cap already lets one cost. A generated
stack of 20,000 resources with no aliases expands to exactly what it writes, and loads.

The same pass refuses collections nested too deeply (the composer would recurse past the C stack).
The count is made on the parser's event stream, before any node or value is built: it keeps one
number per anchor and one per open collection, so refusing a bomb costs no more memory than
reading the file, and its time is one pass over the text. Sizes saturate, so no number grows
big whatever the aliases multiply to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["EXPANSION_FLOOR", "EXPANSION_RATIO", "check_events"]

EXPANSION_RATIO = 10
EXPANSION_FLOOR = 200_000
_SATURATED = 10**15  # far above any limit: a size stops growing here


class _Alias:
    """The alias that expands to the most values so far: where the error points."""

    __slots__ = ("line", "name", "size")

    def __init__(self) -> None:
        self.line = 0
        self.name = ""
        self.size = 0


def check_events(events: Iterable[yaml.Event], file: str, ceiling: int, depth_limit: int) -> None:
    """Read every parser event of a stream, in order, and refuse (:class:`ConfigError`) a document
    whose collections nest more than ``depth_limit`` deep (at the line going past it: composing
    such a document would recurse past the C stack) or that expands past its limit.

    One loop with local state, not a method call per event: a stack of 1,000 resources is
    ~120,000 events, and this pass runs before every load."""
    scalar, alias_event, document_end = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentEndEvent
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    written = expanded = 0
    anchors: dict[str, int] = {}
    open_: list[list[Any]] = []  # per open collection: [size, anchor]
    biggest = _Alias()
    for event in events:
        kind = type(event)
        if kind is scalar:
            written += 1
            if event.anchor is not None:  # type: ignore[attr-defined]
                anchors[event.anchor] = 1  # type: ignore[attr-defined]
            if open_:
                open_[-1][0] += 1
            else:
                expanded += 1
        elif kind in starts:
            written += 1
            if len(open_) >= depth_limit:
                mark = event.start_mark
                raise ConfigError(
                    ConfigIssue(
                        f"values nested more than {depth_limit} levels deep",
                        file=file,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None,
                    )
                )
            open_.append([1, event.anchor])  # type: ignore[attr-defined]
        elif kind in ends:
            size, anchor = open_.pop()
            if anchor is not None:
                anchors[anchor] = size
            if open_:
                open_[-1][0] = min(open_[-1][0] + size, _SATURATED)
            else:
                expanded = min(expanded + size, _SATURATED)
        elif kind is alias_event:
            written += 1
            # An unknown anchor (undefined, or one still open: a recursive alias) counts as one
            # value; the loader refuses both anyway.
            name = str(event.anchor)  # type: ignore[attr-defined]
            size = anchors.get(name, 1)
            if size > biggest.size:
                biggest.size, biggest.name = size, name
                biggest.line = event.start_mark.line + 1 if event.start_mark else 0
            if open_:
                open_[-1][0] = min(open_[-1][0] + size, _SATURATED)
            else:
                expanded = min(expanded + size, _SATURATED)
        elif kind is document_end:
            _check(written, expanded, biggest, file, ceiling)
            written = expanded = 0
            anchors.clear()
            biggest = _Alias()


def _limit(written: int, ceiling: int) -> int:
    """What aliases may expand a document to; a document without aliases is always within."""
    return max(written, min(ceiling, max(EXPANSION_FLOOR, EXPANSION_RATIO * written)))


def _check(written: int, expanded: int, alias: _Alias, file: str, ceiling: int) -> None:
    if expanded <= _limit(written, ceiling):
        return
    raise ConfigError(
        ConfigIssue(
            f"document too large once anchors/aliases are expanded: {written:,} values are "
            f"written but they expand to {_count(expanded)} (the limit is "
            f"{EXPANSION_RATIO}x what is written, at least {EXPANSION_FLOOR:,} and at most "
            f"{ceiling:,}); the alias *{alias.name} here alone stands for "
            f"{_count(alias.size)}. Is this a 'billion laughs' document?",
            file=file,
            line=alias.line,
        )
    )


def _count(size: int) -> str:
    return f"{size:,}" if size < _SATURATED else f"more than {_SATURATED:,}"
