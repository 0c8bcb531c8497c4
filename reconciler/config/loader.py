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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.common.paths import NOT_REGULAR, PathProblem, read_capped, regular_size
from reconciler.config.expansion import check_events
from reconciler.config.libyaml import CParser, FastLoader, nesting_within
from reconciler.config.yaml_values import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    Building,
    Mark,
    MarkedDict,
    MarkedList,
    PythonLoader,
    parse_scalar,
)
from reconciler.errors import ConfigError, ConfigIssue

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "LoadedFile",
    "Mark",
    "MarkedDict",
    "MarkedList",
    "load_file",
    "parse_scalar",
    "stack_files",
    "yaml_kind",
]


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
                    raise _not_regular(entry)
            found = [p for p in entries if p.is_file()]
            if not found:
                raise ConfigError(ConfigIssue("no *.yaml or *.yml files in this directory", file=str(path)))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            raise ConfigError(ConfigIssue(BROKEN_LINK, file=str(path)))
        elif path.exists():  # a FIFO, a device, a socket: refused, never read
            raise _not_regular(path)
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


def _not_regular(path: Path) -> ConfigError:
    """Why ``path`` (which exists) cannot be a stack file: "not a regular file: a FIFO (named pipe)"."""
    try:
        regular_size(path, MAX_FILE_BYTES)
    except PathProblem as exc:
        return ConfigError(ConfigIssue(f"cannot read file: {exc.reason}", file=str(path)))
    return ConfigError(ConfigIssue(f"cannot read file: {NOT_REGULAR}", file=str(path)))


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
        plain = FastLoader(text, file, environ)
        try:
            data = plain.plain_document()
        except Exception:  # not plain, or an error: the careful way below words it
            pass
        else:
            return _loaded(path, data, plain)
    if CParser is not None and nesting_within(text, MAX_DEPTH, file, MAX_VALUES):
        fast = FastLoader(text, file, environ)
        try:
            data = fast.get_single_data()
        except ConfigError:
            raise
        except Exception:  # any trouble: the reference loader decides, and words the error
            pass
        else:
            return _loaded(path, data, fast)
    loader = PythonLoader(text, file, environ)
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
    return _loaded(path, data, loader)


def _loaded(path: Path, data: Any, built: Building) -> LoadedFile:
    """The file's document, with what building it learnt (secrets, variables read, templates)."""
    return LoadedFile(
        path=path,
        data=_stack_document(data, str(path)),
        secret_positions=built.secret_positions,
        secret_values=built.secret_values,
        environ_read=built.environ_read,
        templates=built.templates,
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
