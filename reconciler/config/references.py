"""``${var.NAME…}`` and ``${each.…}``: the references a stack's values and names may hold.

The loader (config/loader.py) reads them while it builds scalars, in the same pass and with the
same ``$${…}`` literal rule as ``${env:…}``: a scalar holding one becomes a :class:`Template`,
its text cut into literal parts and :class:`Reference` parts (``${env:…}`` already substituted,
so a value from the environment is never read again as a reference). config/evaluate.py turns a
template into its value once per instance of the stack, module or ``for_each`` it stands in.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["VARIABLE_NAME", "Reference", "Template", "parse_reference"]

# A variable's name: also the tail of RECONCILER_VAR_NAME, so what a shell allows in a name.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


class Reference(NamedTuple):
    """``${var.prefix}`` is ("var", ("prefix",)); ``${each.value.size}`` is ("each", ("value", "size"))."""

    root: str  # "var" or "each"
    path: tuple[str, ...]
    text: str  # as written, for messages

    def __str__(self) -> str:
        return self.text


class Template(str):
    """A scalar that holds references: its ``str`` value is the text as written (safe to show:
    ``${env:…}`` stays unexpanded there), ``parts`` what evaluation joins."""

    parts: tuple[str | Reference, ...]

    def __new__(cls, text: str, parts: list[str | Reference]) -> Template:
        self = super().__new__(cls, text)
        self.parts = tuple(p for p in parts if p != "")
        return self

    @property
    def single(self) -> Reference | None:
        """The reference, when the scalar is exactly one: its value keeps its type."""
        only = self.parts[0] if len(self.parts) == 1 else None
        return only if isinstance(only, Reference) else None

    def uses(self, root: str, first: str | None = None) -> bool:
        return any(
            isinstance(p, Reference) and p.root == root and (first is None or p.path[:1] == (first,))
            for p in self.parts
        )


def parse_reference(text: str) -> Reference | str:
    """``${var.NAME(.FIELD)*}``, ``${each.key}`` or ``${each.value(.FIELD)*}``; else why not (a str)."""
    inner = text[2:-1]
    root, _, rest = inner.partition(".")
    path = tuple(rest.split(".")) if rest else ()
    if root == "var":
        if not path or not VARIABLE_NAME.fullmatch(path[0]):
            return f"invalid reference {text!r}: expected ${{var.NAME}} (a name of letters, digits and _)"
    elif root == "each":
        if path not in (("key",), ("value",)) and path[:1] != ("value",):
            expected = "${each.key}, ${each.value} or ${each.value.FIELD}"
            return f"invalid reference {text!r}: expected {expected}"
    else:
        return f"invalid reference {text!r}"
    if not all(_SEGMENT.fullmatch(p) for p in path):
        return f"invalid reference {text!r}: a field name has letters, digits, '_' and '-'"
    return Reference(root, path, text)
