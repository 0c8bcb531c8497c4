"""The alias-expansion guard: refuse YAML whose aliases multiply what is written ("billion laughs").

A YAML alias (``*a``) stands for the whole value its anchor (``&a``) names, and the loader builds
a fresh copy for every use, so nine short lines can stand for a billion values. What is *written*
is already bounded by the file-size cap; this guard bounds what aliases *add*, relative to it: a
document may expand to at most ``EXPANSION_RATIO`` times the values it writes (or to
``EXPANSION_FLOOR`` values, whichever is more, so a small file may lean on anchors freely), and
never beyond the caller's ``ceiling``: as many values as the largest file allowed can write, so
aliases never make a document cost more than the size cap already lets one cost. A generated
stack of 20,000 resources with no aliases expands to exactly what it writes, and loads.

The count is made on the parser's event stream, before any node or value is built: it keeps one
number per anchor and one per open collection, so refusing a bomb costs no more memory than
reading the file, and its time is one pass over the text. Sizes saturate, so no number grows
big whatever the aliases multiply to.
"""

from __future__ import annotations

from typing import cast

import yaml

from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["EXPANSION_FLOOR", "EXPANSION_RATIO", "ExpansionCounter"]

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


class ExpansionCounter:
    """Feed it every parser event of a stream, in order; it raises :class:`ConfigError` at the end
    of a document that expands to more than its limit."""

    def __init__(self, file: str, ceiling: int) -> None:
        self.file = file
        self.ceiling = ceiling
        self._start_document()

    def _start_document(self) -> None:
        self.written = 0
        self.expanded = 0
        self._anchors: dict[str, int] = {}
        self._open: list[list[int | str | None]] = []  # per open collection: [size, anchor]
        self._biggest = _Alias()

    def _add(self, size: int) -> None:
        if self._open:
            self._open[-1][0] = min(self._open[-1][0] + size, _SATURATED)  # type: ignore[operator]
        else:
            self.expanded = min(self.expanded + size, _SATURATED)

    def feed(self, event: yaml.Event) -> None:
        kind = type(event)
        node = cast(yaml.NodeEvent, event)  # what the branches that read ``anchor`` are
        if kind is yaml.ScalarEvent:
            self.written += 1
            if node.anchor is not None:
                self._anchors[node.anchor] = 1
            self._add(1)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self.written += 1
            self._open.append([1, node.anchor])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            size, anchor = self._open.pop()
            assert isinstance(size, int)
            if anchor is not None:
                self._anchors[str(anchor)] = size
            self._add(size)
        elif kind is yaml.AliasEvent:
            self.written += 1
            # An unknown anchor (undefined, or one still open: a recursive alias) counts as one
            # value; the loader refuses both anyway.
            alias = str(node.anchor)  # an alias always names its anchor
            size = self._anchors.get(alias, 1)
            if size > self._biggest.size:
                self._biggest.size, self._biggest.name = size, alias
                self._biggest.line = event.start_mark.line + 1 if event.start_mark else 0
            self._add(size)
        elif kind is yaml.DocumentEndEvent:
            self._check()
            self._start_document()

    @property
    def limit(self) -> int:
        """What aliases may expand the document to; a document without aliases is always within."""
        return max(self.written, min(self.ceiling, max(EXPANSION_FLOOR, EXPANSION_RATIO * self.written)))

    def _check(self) -> None:
        if self.expanded <= self.limit:
            return
        alias = self._biggest
        raise ConfigError(
            ConfigIssue(
                f"document too large once anchors/aliases are expanded: {self.written:,} values are "
                f"written but they expand to {_count(self.expanded)} (the limit is "
                f"{EXPANSION_RATIO}x what is written, at least {EXPANSION_FLOOR:,} and at most "
                f"{self.ceiling:,}); the alias *{alias.name} here alone stands for "
                f"{_count(alias.size)}. Is this a 'billion laughs' document?",
                file=self.file,
                line=alias.line,
            )
        )


def _count(size: int) -> str:
    return f"{size:,}" if size < _SATURATED else f"more than {_SATURATED:,}"
