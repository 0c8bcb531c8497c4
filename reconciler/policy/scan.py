"""What a Rego file declares, read without the engine: its package and its top-level statements.

The engine is only ever run in a child process (``isolate.py``), and its parse errors carry no
rule names; this scan tells the parent which rules exist (to query ``deny``/``warn``/
``violation`` and their ``_suffix`` forms, to find ``test_*`` rules) and where each starts, to
name a file and line in a message. It is a lexer, not a parser: it skips strings, raw strings
and comments and counts brackets, so a statement is a line that starts (after any indentation)
at bracket depth 0 with a name: an indented rule is still found, so never left unqueried. The
engine still parses every file; a file this scan misreads is still loaded whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Scanned", "Statement", "scan"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PACKAGE = re.compile(r"package\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_DEFAULT = re.compile(r"default\s+([A-Za-z_][A-Za-z0-9_]*)")
_CONTINUATIONS = {"else"}  # continues the statement before it


@dataclass(frozen=True)
class Statement:
    """A top-level statement: ``name`` is the rule it defines (``package``/``import`` for those)."""

    name: str
    line: int  # 1-based, where it starts
    end_line: int  # the last line before the next statement (comments and blank lines included)


@dataclass(frozen=True)
class Scanned:
    package: str | None
    package_line: int | None
    statements: tuple[Statement, ...]

    def rules(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.name not in ("package", "import"))


def scan(text: str) -> Scanned:
    starts: list[tuple[str, int]] = []
    package: str | None = None
    package_line: int | None = None
    lines = text.split("\n")
    depth = 0
    in_raw = False  # inside a `raw string`, which may span lines
    for number, line in enumerate(lines, start=1):
        if depth == 0 and not in_raw:
            start = line.lstrip()  # Rego does not care for indentation: an indented rule is a rule
            word = _NAME.match(start)
            if word and word.group() not in _CONTINUATIONS:
                name = word.group()
                if name == "default":
                    ruled = _DEFAULT.match(start)
                    name = ruled.group(1) if ruled else name
                if name == "package" and package is None:
                    found = _PACKAGE.match(start)
                    package, package_line = (found.group(1) if found else None), number
                starts.append((name, number))
        depth, in_raw = _brackets_after(line, depth, in_raw)
    statements = tuple(
        Statement(name, line, (starts[i + 1][1] - 1) if i + 1 < len(starts) else len(lines))
        for i, (name, line) in enumerate(starts)
    )
    return Scanned(package, package_line, statements)


def _brackets_after(line: str, depth: int, in_raw: bool) -> tuple[int, bool]:
    """The bracket depth after ``line``, skipping strings and comments."""
    i, size = 0, len(line)
    while i < size:
        char = line[i]
        if in_raw:
            if char == "`":
                in_raw = False
        elif char == "#":
            break
        elif char == "`":
            in_raw = True
        elif char == '"':
            i += 1
            while i < size and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return depth, in_raw
