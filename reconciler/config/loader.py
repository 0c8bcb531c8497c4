"""Read stack files: YAML with line numbers, duplicate-key detection and references.

The loader builds plain dicts and lists, but every mapping is a :class:`MarkedDict` that
remembers where each key and value stood, so a validation error found much later can
still name the file, line and column. ``${env:NAME}`` is substituted while scalars are
built (``$${env:NAME}`` is a literal; ``${env:NAME:-default}`` uses ``default`` when NAME is
unset or empty); otherwise a missing or empty variable is an error at the line that uses it.
Values that came from the environment are remembered so that error messages never echo them
(they are often credentials), and the engine treats them as sensitive; ``${env:NAME:plain}``
says a value is no secret (a default written in the YAML is not a secret either).

In the same pass, with the same ``$${…}`` rule, a scalar holding ``${var.…}`` or ``${each.…}``
becomes a :class:`~reconciler.config.references.Template`, evaluated later per instance
(config/evaluate.py): a value from the environment is never read again as a reference.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from reconciler.common.paths import NOT_REGULAR, PathProblem, read_capped
from reconciler.config.expansion import check_events
from reconciler.config.references import Reference, Template, parse_reference
from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["LoadedFile", "MarkedDict", "MarkedList", "load_file", "stack_files", "yaml_kind"]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_VALUES = MAX_FILE_BYTES // 2  # what the largest file can write ("x," is 2 bytes): aliases add no more
MAX_DEPTH = 64
# ${env:…}, ${var.…}, ${each.…} and their literal forms $${…}; any other ${…} is plain text.
REFERENCE_PATTERN = re.compile(r"\$(\$?)\{((?:env:|var\b|each\b)[^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLAIN_SUFFIX = ":plain"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"


class Mark(NamedTuple):
    """Where a key or value was written. A tuple: a big stack makes one per value."""

    file: str
    line: int  # 1-based
    column: int  # 1-based


class MarkedDict(dict[Any, Any]):
    """A dict that knows where its keys and values were written."""

    mark: Mark
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class MarkedList(list[Any]):
    mark: Mark
    item_marks: list[Mark]


@dataclass
class LoadedFile:
    path: Path
    data: MarkedDict | None
    # (line, column) of every scalar built from ${env:...}: never echo those values.
    secret_positions: set[tuple[int, int]] = field(default_factory=set)
    # value -> variable name of every ${env:NAME} (not ``:plain``): export writes the reference back.
    secret_values: dict[str, str] = field(default_factory=dict)
    # Every environment variable the file read, with the value it saw (None: unset): a cached
    # module file is reused only while these are unchanged (config/modules.py).
    environ_read: dict[str, str | None] = field(default_factory=dict)
    # How many scalars hold ${var.…} / ${each.…} (config/references.py): none, nothing to evaluate.
    templates: int = 0


BROKEN_LINK = "a broken symbolic link (its target is missing, or it leads round in a loop)"


def stack_files(paths: list[Path]) -> list[Path]:
    """Expand ``-f`` arguments: a directory means every *.yaml / *.yml directly in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            for entry in entries:
                if entry.is_symlink() and not entry.exists():  # skipped silently, its resources would go
                    raise ConfigError(ConfigIssue(BROKEN_LINK, file=str(entry)))
            for entry in entries:  # a FIFO or device named *.yaml is refused, never skipped or read
                if entry.exists() and not entry.is_file() and not entry.is_dir():
                    raise ConfigError(ConfigIssue(f"cannot read file: {NOT_REGULAR}", file=str(entry)))
            found = [p for p in entries if p.is_file()]
            if not found:
                raise ConfigError(ConfigIssue("no *.yaml or *.yml files in this directory", file=str(path)))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            raise ConfigError(ConfigIssue(BROKEN_LINK, file=str(path)))
        else:
            raise ConfigError(ConfigIssue("no such file or directory", file=str(path)))
    seen: set[Path] = set()
    unique = []
    for f in files:
        resolved = f.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(f)
    return unique


class _Building:
    """How values are built (marks, limits, ``${env:}``), whichever parser reads the text."""

    constructed_objects: dict[Any, Any]
    flattens = True  # whether mappings may hold merge keys (<<) to flatten

    def _setup(self, file: str, environ: Mapping[str, str]) -> None:
        self.name = file  # marks carry the file name
        self.file = file
        self.environ = environ
        self.secret_positions: set[tuple[int, int]] = set()
        self.secret_values: dict[str, str] = {}
        self.environ_read: dict[str, str | None] = {}  # NAME -> value seen (None: unset)
        self.templates = 0
        self.depth = 0

    def _mark(self, node: yaml.Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ConfigError(
                    ConfigIssue(
                        f"values nested more than {MAX_DEPTH} levels deep",
                        file=self.file,
                        line=node.start_mark.line + 1,
                    )
                )
            if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
                return _construct_str(self, node)  # most values: skip the generic machinery
            # An alias is built again each time (no shared mutable values): check_events bounds that.
            self.constructed_objects.pop(node, None)
            return super().construct_object(node, deep=True)  # type: ignore[misc]
        finally:
            self.depth -= 1


class _Loader(_Building, yaml.SafeLoader):
    """Pure Python: the reference, and the one whose error messages users see."""

    def __init__(self, text: str, file: str, environ: Mapping[str, str]) -> None:
        try:
            yaml.SafeLoader.__init__(self, text)  # the reader checks every character here
        except yaml.reader.ReaderError as exc:
            raise _unprintable(text, file, exc) from exc
        self._setup(file, environ)


def _unprintable(text: str, file: str, exc: yaml.reader.ReaderError) -> ConfigError:
    """A control character (or other) that YAML does not allow, with its line and column."""
    before = text[: exc.position]
    line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    return ConfigError(
        ConfigIssue(
            f"character U+{exc.character:04X} is not allowed in YAML (a control character?); "
            'write it as an escape in a double-quoted string, e.g. "\\x07"',
            file=file,
            line=line,
            column=column,
        )
    )


try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    CParser = None  # type: ignore[misc, assignment]

if CParser is not None:

    class _FastLoader(_Building, CParser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
        """libyaml scans, parses and composes nodes (~10x faster than Python); values are built in
        Python as everywhere. The C composer recurses on the C stack, so it is only used once
        :func:`_nesting_within` has shown (with libyaml's parser, without composing) that the
        document is no deeper than MAX_DEPTH: a deeply nested file never reaches it."""

        def __init__(self, text: str, file: str, environ: Mapping[str, str]) -> None:
            CParser.__init__(self, text)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._setup(file, environ)
            # Merge keys (<<) and value keys (=) need flattening; a file without either never does.
            self.flattens = "<<" in text or "=" in text

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            """As ``_Building``'s, without counting the depth: ``_nesting_within`` bounded it before
            anything was composed. Strings and mappings, nearly every value, go straight to their
            constructor (an alias is built again each time, as there)."""
            tag = node.tag
            if tag == _STR_TAG and node.__class__ is yaml.ScalarNode:
                return _construct_str(self, node)  # type: ignore[arg-type]
            if tag == _MAP_TAG and node.__class__ is yaml.MappingNode and node not in self.recursive_objects:
                self.recursive_objects[node] = None
                try:
                    return _construct_mapping(self, node)  # type: ignore[arg-type]
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
                    tag = _plain_tag(resolve, value) if event.implicit[0] else _STR_TAG
                    if tag != _STR_TAG:
                        value = self._plain_scalar(tag, event)
                    elif "${" in value:
                        value = _string(self, value, at)
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
    """The document needs the composing path (:meth:`_FastLoader.plain_document`); caught in
    :func:`load_file`, never shown."""

    def __init__(self) -> None:
        super().__init__(ConfigIssue("not a plain document: loaded the composing way"))


_NO_KEY = object()
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "bool", "null", "float", "timestamp"))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    if loader.flattens:
        loader.flatten_mapping(node)  # merge keys (<<)
    result = MarkedDict()
    result.mark = loader._mark(node)
    key_marks: dict[Any, Mark] = {}
    value_marks: dict[Any, Mark] = {}
    result.key_marks, result.value_marks = key_marks, value_marks
    file = loader.file
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise ConfigError(
                ConfigIssue(
                    "a mapping key must be a plain value",
                    file=loader.file,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            )
        if key in result:
            first = result.key_marks[key]
            raise ConfigError(
                ConfigIssue(
                    f"duplicate key {key!r} (first defined at line {first.line})",
                    file=loader.file,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            )
        try:
            result[key] = loader.construct_object(value_node)
        except _IntegerTooLarge as exc:
            raise exc.within(key) from None
        at = key_node.start_mark
        key_marks[key] = Mark(file, at.line + 1, at.column + 1)
        at = value_node.start_mark
        value_marks[key] = Mark(file, at.line + 1, at.column + 1)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList()
    for index, child in enumerate(node.value):
        try:
            result.append(loader.construct_object(child))
        except _IntegerTooLarge as exc:
            raise exc.within(index) from None
    result.mark = loader._mark(node)
    result.item_marks = [loader._mark(child) for child in node.value]
    return result


def _construct_str(loader: _Building, node: yaml.ScalarNode) -> str:
    value = node.value
    assert isinstance(value, str)
    if "${" not in value:
        return value
    return _string(loader, value, node.start_mark)


def _string(loader: _Building, value: str, at: yaml.Mark) -> str:
    """A string scalar with ``${…}`` in it: environment values substituted, or a Template."""
    line, column = at.line + 1, at.column + 1
    where = Mark(loader.file, line, column)
    result = split_references(value, where, lambda m: _env_value(loader, m, line, column))
    if type(result) is Template:
        loader.templates += 1
    return result


def split_references(text: str, mark: Mark, env: Callable[[re.Match[str]], str]) -> str:
    """``text`` with ``$${…}`` made literal and ``${env:…}`` substituted (by ``env``); a
    :class:`Template` when ``${var.…}`` / ``${each.…}`` remain to be evaluated, else a str."""
    parts: list[str | Reference] = []
    at = 0
    for match in REFERENCE_PATTERN.finditer(text):
        parts.append(text[at : match.start()])
        at = match.end()
        if match.group(1):  # $${env:X}, $${var.X}: the literal ${…}
            parts.append(match.group(0)[1:])
        elif match.group(2).startswith("env:"):
            parts.append(env(match))
        else:  # ${var.…} / ${each.…}: evaluated per instance (config/evaluate.py)
            reference = parse_reference(match.group(0))
            if isinstance(reference, str):
                raise ConfigError(ConfigIssue(reference, file=mark.file, line=mark.line, column=mark.column))
            parts.append(reference)
    parts.append(text[at:])
    if not any(isinstance(p, Reference) for p in parts):
        return "".join(parts)  # type: ignore[arg-type]
    return Template(text, parts)


def parse_scalar(text: str, mark: Mark) -> str:
    """A value given outside a file (a --target address): references, but no ``${env:…}``."""

    def no_env(match: re.Match[str]) -> str:
        raise ConfigError(ConfigIssue(f"{match.group(0)} cannot be used here", file=mark.file))

    return split_references(text, mark, no_env)


def _env_value(loader: _Building, match: re.Match[str], line: int, column: int) -> str:
    """``${env:NAME}`` (``:-default``, ``:plain``): its value, remembered as a secret unless plain."""
    name, has_default, default = match.group(2)[len("env:") :].partition(":-")
    plain = name.endswith(PLAIN_SUFFIX)  # ${env:NAME:plain}: the user says it is no secret
    name = name.removesuffix(PLAIN_SUFFIX) if plain else name
    if not ENV_NAME.fullmatch(name):
        raise ConfigError(
            ConfigIssue(
                f"invalid environment variable name in {match.group(0)!r}",
                file=loader.file,
                line=line,
                column=column,
            )
        )
    loader.environ_read[name] = loader.environ.get(name)
    if has_default and not loader.environ.get(name):  # ${env:NAME:-default}, as in the shell
        return default
    if name not in loader.environ:
        raise ConfigError(
            ConfigIssue(f"environment variable {name} is not set", file=loader.file, line=line, column=column)
        )
    if loader.environ[name] == "":
        raise ConfigError(
            ConfigIssue(
                f"environment variable {name} is set but empty",
                file=loader.file,
                line=line,
                column=column,
            )
        )
    if not plain:
        loader.secret_positions.add((line, column))
        loader.secret_values[loader.environ[name]] = name
    return loader.environ[name]


class _IntegerTooLarge(ConfigError):
    """An integer past what a stack can hold; the mappings it is inside add their keys on the way
    out, so the message names the field (``cores.c.precision``)."""

    def __init__(self, issue: ConfigIssue, path: tuple[Any, ...] = ()) -> None:
        self.path = path
        field_path = ".".join(str(p) for p in path) or None
        super().__init__(ConfigIssue(issue.message, issue.file, issue.line, issue.column, field_path))
        self.issue = issue

    def within(self, key: Any) -> _IntegerTooLarge:
        return _IntegerTooLarge(self.issue, (key, *self.path))


# Python converts integers of at most this many decimal digits to and from text (3.11+: 4,300);
# one written in hex, octal or binary is refused by the same bound, or its repr would fail later.
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_LIMIT = 10**_MAX_DIGITS
_DIGITS_ONLY = re.compile(r"^[-+]?(?:0[xXoObB]?)?|_")


def _construct_int(loader: _Building, node: yaml.ScalarNode) -> int:
    """An integer, or one clear error when it has more digits than Python converts."""
    try:
        value = SafeConstructor.construct_yaml_int(loader, node)  # type: ignore[arg-type]
        if abs(value) < _LIMIT:
            return int(value)
    except ValueError:
        pass
    raise _IntegerTooLarge(
        ConfigIssue(
            f"integer with {len(_DIGITS_ONLY.sub('', node.value)):,} digits is too large "
            f"(at most {_MAX_DIGITS:,} decimal digits)",
            file=loader.file,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )
    )


for _cls in (_Loader, _FastLoader) if CParser is not None else (_Loader,):
    _cls.add_constructor("tag:yaml.org,2002:int", _construct_int)  # type: ignore[type-var]
    _cls.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    _cls.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
    _cls.add_constructor("tag:yaml.org,2002:str", _construct_str)  # type: ignore[type-var]


def _nesting_within(text: str, limit: int, file: str) -> bool:
    """Whether collections nest at most ``limit`` deep (libyaml's event parser: no recursion);
    deeper is a ConfigError at the line where it goes past the limit. The same pass refuses an
    alias bomb (:func:`check_events`) before anything is composed."""
    assert CParser is not None
    try:
        check_events(iter(CParser(text).get_event, None), file, MAX_VALUES, limit)
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


def load_file(path: Path, environ: Mapping[str, str] | None = None) -> LoadedFile:
    """Load one stack file. An empty file loads as ``None`` (the caller decides if that is fine)."""
    environ = os.environ if environ is None else environ
    file = str(path)
    try:
        raw = read_capped(path, MAX_FILE_BYTES)
    except PathProblem as exc:
        raise ConfigError(ConfigIssue(f"cannot read file: {exc.reason}", file=file)) from exc
    if b"\x00" in raw:
        raise ConfigError(ConfigIssue("this is a binary file, not YAML", file=file))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            ConfigIssue(
                f"not valid UTF-8 text (byte {exc.start}); save the file as UTF-8", file=file, line=line
            )
        ) from exc
    if CParser is not None:
        plain = _FastLoader(text, file, environ)
        try:
            data = plain.plain_document()
        except Exception:  # not plain, or an error: the careful way below words it
            pass
        else:
            return LoadedFile(
                path=path,
                data=_stack_document(data, file),
                secret_positions=plain.secret_positions,
                secret_values=plain.secret_values,
                environ_read=plain.environ_read,
                templates=plain.templates,
            )
    if CParser is not None and _nesting_within(text, MAX_DEPTH, file):
        fast = _FastLoader(text, file, environ)
        try:
            data = fast.get_single_data()
        except ConfigError:
            raise
        except Exception:  # any trouble: the reference loader decides, and words the error
            pass
        else:
            return LoadedFile(
                path=path,
                data=_stack_document(data, file),
                secret_positions=fast.secret_positions,
                secret_values=fast.secret_values,
                environ_read=fast.environ_read,
                templates=fast.templates,
            )
    loader = _Loader(text, file, environ)
    try:
        # Without libyaml, or where it failed: Python's parser, once to refuse a bomb or a deep
        # document before composing, once to compose (the fast path's pass is libyaml's).
        check_events(yaml.parse(text, Loader=yaml.SafeLoader), file, MAX_VALUES, MAX_DEPTH)
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "\t" in problem or "'\\t'" in problem or re.search(r"\btabs?\b", problem):
            problem += " (YAML does not allow tabs for indentation)"
        if exc.context and exc.context not in problem:
            problem = f"{exc.context}: {problem}"
        raise ConfigError(
            ConfigIssue(
                f"invalid YAML: {problem}",
                file=file,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue(f"invalid YAML: {exc}", file=file)) from exc
    except RecursionError as exc:
        raise ConfigError(ConfigIssue("values nested too deeply", file=file)) from exc
    finally:
        loader.dispose()
    return LoadedFile(
        path=path,
        data=_stack_document(data, file),
        secret_positions=loader.secret_positions,
        secret_values=loader.secret_values,
        environ_read=loader.environ_read,
        templates=loader.templates,
    )


def yaml_kind(value: object) -> str:
    """What a YAML value is, in YAML's words: "a list", "a mapping", "a string", …"""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((dict, "a mapping"), (list, "a list"), (str, "a string"), (int | float, "a number")):
        if isinstance(value, kind):
            return name
    return "a date or time" if hasattr(value, "isoformat") else "a value"


def _stack_document(data: Any, file: str) -> MarkedDict | None:
    """A stack file holds a mapping (or nothing: an empty file, which the caller reports)."""
    if data is not None and not isinstance(data, MarkedDict):
        raise ConfigError(
            ConfigIssue(
                f"a stack file must be a mapping (version:, cores:, …), not {yaml_kind(data)}",
                file=file,
                line=1,
            )
        )
    return data
