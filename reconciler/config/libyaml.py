"""libyaml, the fast parser (PyYAML's C extension), used whenever it is built in: a plain document
(nearly every stack file) is built in one parse straight from its events; anything else is composed
by libyaml once the nesting is known to be bounded. Any trouble falls back to the pure-Python
loader (config/loader.py), which words every error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from reconciler.config.expansion import check_events
from reconciler.config.yaml_values import (
    MAP_TAG,
    MAX_DEPTH,
    STR_TAG,
    Building,
    Mark,
    MarkedDict,
    MarkedList,
    add_constructors,
    build_string,
    construct_mapping,
    construct_str,
)
from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["CParser", "FastLoader", "nesting_within"]

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    CParser = None  # type: ignore[misc, assignment]

if CParser is not None:

    class FastLoader(Building, CParser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
        """libyaml scans, parses and composes nodes (~10x faster than Python); values are built in
        Python as everywhere. The C composer recurses on the C stack, so it is only used once
        :func:`nesting_within` has shown (with libyaml's parser, without composing) that the
        document is no deeper than MAX_DEPTH: a deeply nested file never reaches it."""

        def __init__(self, text: str, file: str, environ: Mapping[str, str]) -> None:
            CParser.__init__(self, text)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._setup(file, environ)
            # Merge keys (<<) and value keys (=) need flattening; a file without either never does.
            self.flattens = "<<" in text or "=" in text

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            """As ``Building``'s, without counting the depth: ``nesting_within`` bounded it before
            anything was composed. Strings and mappings, nearly every value, go straight to their
            constructor (an alias is built again each time, as there)."""
            tag = node.tag
            if tag == STR_TAG and node.__class__ is yaml.ScalarNode:
                return construct_str(self, node)  # type: ignore[arg-type]
            if tag == MAP_TAG and node.__class__ is yaml.MappingNode and node not in self.recursive_objects:
                self.recursive_objects[node] = None
                try:
                    return construct_mapping(self, node)  # type: ignore[arg-type]
                finally:
                    del self.recursive_objects[node]
            self.constructed_objects.pop(node, None)
            return SafeConstructor.construct_object(self, node, deep=True)

        def plain_document(self) -> Any:
            """The document built straight from libyaml's events, in one parse: no nodes composed,
            no separate pre-pass. Only for a plain document, nearly every stack file: anything
            else (an anchor or alias, an explicit tag, a merge key, nesting past MAX_DEPTH, a
            second document, any error) raises, and :func:`load_file` loads the file the careful
            way, which words every error as before. The values, marks, secrets and templates are
            those the composing path builds (tests/unit/config/test_loader_one_pass.py)."""
            get_event: Callable[[], Any] = self.get_event
            file, resolve = self.file, self.resolve
            new = tuple.__new__  # Mark(…) without the named tuple's Python-level __new__: one per value
            if type(get_event()) is not yaml.StreamStartEvent:
                raise _NotPlain
            kind = type(get_event())
            if kind is yaml.StreamEndEvent:
                return None  # an empty file
            if kind is not yaml.DocumentStartEvent:
                raise _NotPlain
            # An anchor, an alias or an explicit tag (not "!"): the composing path handles those.
            # One frame per open collection: [the collection, its pending key (or _NO_KEY), the key's mark]
            open_: list[list[Any]] = []
            while True:
                event = get_event()
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    at = event.start_mark
                    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                        raise _NotPlain
                    value = event.value
                    # A quoted or block scalar is a string; a plain one is resolved (int, bool, null, …).
                    tag = _plain_tag(resolve, value) if event.implicit[0] else STR_TAG
                    if tag != STR_TAG:
                        value = self._plain_scalar(tag, event)
                    elif "${" in value:
                        value = build_string(self, value, at)
                    mark = new(Mark, (file, at.line + 1, at.column + 1))
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                        raise _NotPlain
                    if len(open_) >= MAX_DEPTH:
                        raise _NotPlain
                    at = event.start_mark
                    collection: MarkedDict | MarkedList
                    if kind is yaml.MappingStartEvent:
                        collection = MarkedDict()
                        collection.key_marks, collection.value_marks = {}, {}
                    else:
                        collection = MarkedList()
                        collection.item_marks = []
                    collection.mark = new(Mark, (file, at.line + 1, at.column + 1))
                    open_.append([collection, _NO_KEY, None])
                    continue
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    value = open_.pop()[0]
                    mark = value.mark
                else:  # an alias
                    raise _NotPlain
                if not open_:
                    break
                frame = open_[-1]
                parent = frame[0]
                if parent.__class__ is MarkedList:
                    parent.append(value)
                    parent.item_marks.append(mark)
                elif frame[1] is _NO_KEY:
                    if value in parent or (value.__class__ is not str and not _plain_key(value)):
                        raise _NotPlain  # a duplicate key, or a key that is not a plain value
                    frame[1], frame[2] = value, mark
                else:
                    key = frame[1]
                    parent[key] = value
                    parent.key_marks[key] = frame[2]
                    parent.value_marks[key] = mark
                    frame[1] = _NO_KEY
            if type(get_event()) is not yaml.DocumentEndEvent or type(get_event()) is not yaml.StreamEndEvent:
                raise _NotPlain
            return value

        def _plain_scalar(self, tag: str, event: Any) -> Any:
            """An int, bool, null, float or timestamp, by the constructor the composing path uses."""
            if tag not in _PLAIN_TAGS:
                raise _NotPlain  # a merge key (<<) or a value key (=)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            return self.yaml_constructors[tag](self, node)


def _plain_key(key: Any) -> bool:
    return key is None or isinstance(key, str | int | float | bool)


# The implicit tag of a plain scalar depends on its text alone (no path resolvers): the keys and
# values a fleet's stacks repeat (``class``, ``precision``, ``main``) are resolved once.
_RESOLVED: dict[str, str] = {}
_RESOLVED_KEPT = 4096


def _plain_tag(resolve: Callable[..., str], value: str) -> str:
    tag = _RESOLVED.get(value)
    if tag is None:
        tag = resolve(yaml.ScalarNode, value, (True, False))
        if len(_RESOLVED) >= _RESOLVED_KEPT:
            _RESOLVED.clear()
        if len(value) <= 64:
            _RESOLVED[value] = tag
    return tag


class _NotPlain(ConfigError):
    """The document needs the composing path (:meth:`FastLoader.plain_document`); caught in
    :func:`load_file`, never shown."""

    def __init__(self) -> None:
        super().__init__(ConfigIssue("not a plain document: loaded the composing way"))


_NO_KEY = object()
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "bool", "null", "float", "timestamp"))


if CParser is not None:
    add_constructors(FastLoader)


def nesting_within(text: str, limit: int, file: str, max_values: int) -> bool:
    """Whether collections nest at most ``limit`` deep (libyaml's event parser: no recursion);
    deeper is a ConfigError at the line where it goes past the limit. The same pass refuses an
    alias bomb (:func:`check_events`) before anything is composed."""
    assert CParser is not None
    try:
        check_events(iter(CParser(text).get_event, None), file, max_values, limit)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if "nesting depth" not in str(exc.problem) or mark is None:
            return False  # the reference loader words the error
        # libyaml's own limit (1,000 in flow style) comes first: same message, with its line
        raise ConfigError(
            ConfigIssue(
                f"values nested more than {limit} levels deep", file=file, line=mark.line + 1, column=None
            )
        ) from None
    except yaml.YAMLError:
        return False  # the reference loader words the error
    return True
