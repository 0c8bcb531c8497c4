"""How a stack file's YAML becomes values, whichever parser reads the text (config/loader.py
chooses; config/libyaml.py is the fast one): every mapping a :class:`MarkedDict` that remembers
where each key and value stood, ``${env:NAME}`` substituted while scalars are built, ``${var.…}``
and ``${each.…}`` kept as :class:`~reconciler.config.references.Template`, integers and nesting
bounded. The rules are in config/loader.py's docstring.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor

from reconciler.config.references import Reference, Template, parse_reference
from reconciler.errors import ConfigError, ConfigIssue

__all__ = [
    "MAP_TAG",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "STR_TAG",
    "Building",
    "Mark",
    "MarkedDict",
    "MarkedList",
    "PythonLoader",
    "add_constructors",
    "build_string",
    "construct_mapping",
    "construct_str",
    "parse_scalar",
    "split_references",
]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_VALUES = MAX_FILE_BYTES // 2  # what the largest file can write ("x," is 2 bytes): aliases add no more
MAX_DEPTH = 64
# ${env:…}, ${var.…}, ${each.…} and their literal forms $${…}; any other ${…} is plain text.
REFERENCE_PATTERN = re.compile(r"\$(\$?)\{((?:env:|var\b|each\b)[^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLAIN_SUFFIX = ":plain"
STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"


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


class Building:
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
            if node.tag == STR_TAG and isinstance(node, yaml.ScalarNode):
                return construct_str(self, node)  # most values: skip the generic machinery
            # An alias is built again each time (no shared mutable values): check_events bounds that.
            self.constructed_objects.pop(node, None)
            return super().construct_object(node, deep=True)  # type: ignore[misc]
        finally:
            self.depth -= 1


class PythonLoader(Building, yaml.SafeLoader):
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


def construct_mapping(loader: PythonLoader, node: yaml.MappingNode) -> MarkedDict:
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


def construct_sequence(loader: PythonLoader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList()
    for index, child in enumerate(node.value):
        try:
            result.append(loader.construct_object(child))
        except _IntegerTooLarge as exc:
            raise exc.within(index) from None
    result.mark = loader._mark(node)
    result.item_marks = [loader._mark(child) for child in node.value]
    return result


def construct_str(loader: Building, node: yaml.ScalarNode) -> str:
    value = node.value
    assert isinstance(value, str)
    if "${" not in value:
        return value
    return build_string(loader, value, node.start_mark)


def build_string(loader: Building, value: str, at: yaml.Mark) -> str:
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


def _env_value(loader: Building, match: re.Match[str], line: int, column: int) -> str:
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


def construct_int(loader: Building, node: yaml.ScalarNode) -> int:
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


def add_constructors(loader: type[Any]) -> None:
    """Build ints, mappings, sequences and strings the way above, for a loader class."""
    loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    loader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
    loader.add_constructor("tag:yaml.org,2002:seq", construct_sequence)
    loader.add_constructor("tag:yaml.org,2002:str", construct_str)


add_constructors(PythonLoader)
