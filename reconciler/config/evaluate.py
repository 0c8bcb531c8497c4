"""Evaluate the references of a loaded tree (config/references.py) in one scope.

A scalar that is exactly one reference takes the referred value with its type (a number stays a
number, a map stays a map); inside longer text a string, number or bool is interpolated. A value
put in by a reference is marked where the reference is written, so a validation error about it
points there (the caller adds the module call chain and the ``for_each`` key). A reference to a
sensitive variable makes its place a secret, as a value from ``${env:…}`` is (config/loader.py).

Evaluation never changes what it is given: a module's tree, loaded once, is evaluated once per
call and per ``for_each`` key, and a subtree without references is shared, not copied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.config.loader import Mark, MarkedDict, MarkedList
from reconciler.config.references import Reference, Template
from reconciler.config.variables import Value, describe_value
from reconciler.errors import ConfigError, ConfigIssue

__all__ = [
    "Evaluator",
    "Scope",
    "SecretMarks",
    "checked",
    "in_context",
    "issue_at",
    "marked_copy",
    "with_context",
]

T = TypeVar("T")

SecretMarks = set[tuple[str, int, int]]  # (file, line, column) of values never to be shown


@dataclass(frozen=True)
class Scope:
    """What references can see: the variables (None where there are none: a default, a
    --var-file), the ``for_each`` instance, and where we are (for messages)."""

    variables: Mapping[str, Value] | None
    each: tuple[str, Any] | None = None
    context: str = ""  # e.g. "in module.team-a (called at stack.yaml:4:3)", "for_each key 'small'"

    def with_each(self, key: str, value: Any) -> Scope:
        note = f"for_each key {key!r}"
        return Scope(self.variables, (key, value), f"{self.context}, {note}" if self.context else note)


def in_context(message: str, context: str) -> str:
    """``message`` told which module instance or for_each key it is about (``context``)."""
    return f"{message} ({context})" if context else message


def issue_at(message: str, mark: Mark | None) -> ConfigIssue:
    if mark is None:
        return ConfigIssue(message)
    return ConfigIssue(message, file=mark.file, line=mark.line, column=mark.column)


def with_context(issue: ConfigIssue, context: str) -> ConfigIssue:
    return ConfigIssue(in_context(issue.message, context), issue.file, issue.line, issue.column, issue.field)


def checked(check: Callable[[], T], context: str) -> T:
    """Run a validation; its errors say which module instance they are in."""
    try:
        return check()
    except ConfigError as exc:
        if not context:
            raise
        raise ConfigError([with_context(i, context) for i in exc.issues]) from None


class Evaluator:
    def __init__(self, secrets: SecretMarks) -> None:
        self.secrets = secrets

    def value(self, node: Any, mark: Mark, scope: Scope) -> Any:
        """``node`` with its references evaluated; ``mark`` is where ``node`` is written."""
        if type(node) is Template:
            return self._template(node, mark, scope)
        if isinstance(node, MarkedDict):
            return self._mapping(node, scope)
        if isinstance(node, MarkedList):
            return self._sequence(node, scope)
        return node

    def _mapping(self, node: MarkedDict, scope: Scope) -> MarkedDict:
        changed = False
        items = []
        key_marks, value_marks = node.key_marks, node.value_marks
        for key, value in node.items():
            new_key = self._template(key, key_marks[key], scope) if type(key) is Template else key
            new_value = self.value(value, value_marks[key], scope)
            changed = changed or new_key is not key or new_value is not value
            items.append((key, new_key, new_value))
        if not changed:
            return node
        result = MarkedDict()
        result.mark = node.mark
        result.key_marks, result.value_marks = {}, {}
        for key, new_key, new_value in items:
            if not isinstance(new_key, str | int | float | bool):
                raise _error(
                    f"a mapping key must be a plain value, not {describe_value(new_key)}",
                    key_marks[key],
                    scope,
                )
            if new_key in result:
                raise _error(
                    f"duplicate key {new_key!r} once references are evaluated", key_marks[key], scope
                )
            result[new_key] = new_value
            result.key_marks[new_key] = key_marks[key]
            result.value_marks[new_key] = value_marks[key]
        return result

    def _sequence(self, node: MarkedList, scope: Scope) -> MarkedList:
        values = [self.value(v, m, scope) for v, m in zip(node, node.item_marks, strict=True)]
        if all(new is old for new, old in zip(values, node, strict=True)):
            return node
        result = MarkedList(values)
        result.mark, result.item_marks = node.mark, node.item_marks
        return result

    def _template(self, template: Template, mark: Mark, scope: Scope) -> Any:
        single = template.single
        if single is not None:
            return marked_copy(self._lookup(single, mark, scope), mark)
        text = []
        for part in template.parts:
            if isinstance(part, str):
                text.append(part)
                continue
            value = self._lookup(part, mark, scope)
            if isinstance(value, bool):
                text.append("true" if value else "false")
            elif isinstance(value, str | int | float):
                text.append(str(value))
            else:
                raise _error(
                    f"{part} is {describe_value(value)}; only a string, number or bool can stand inside "
                    f"text (write {part} alone as the whole value to use it as it is)",
                    mark,
                    scope,
                )
        return "".join(text)

    def _lookup(self, ref: Reference, mark: Mark, scope: Scope) -> Any:
        if ref.root == "var":
            if scope.variables is None:
                raise _error(
                    f"{ref} cannot be used here: this value is read before any variable", mark, scope
                )
            name = ref.path[0]
            if name not in scope.variables:
                declared = ", ".join(sorted(scope.variables)) or "none"
                raise _error(f"{ref}: no variable {name!r} is declared (declared: {declared})", mark, scope)
            variable = scope.variables[name]
            if variable.sensitive:
                self.secrets.add((mark.file, mark.line, mark.column))
            return _walk(variable.value, ref.path[1:], f"var.{name}", ref, mark, scope)
        if scope.each is None:
            raise _error(f"{ref} is only known in a resource with for_each", mark, scope)
        key, value = scope.each
        if ref.path == ("key",):
            return key
        return _walk(value, ref.path[1:], "each.value", ref, mark, scope)


def _walk(value: Any, path: tuple[str, ...], base: str, ref: Reference, mark: Mark, scope: Scope) -> Any:
    where = base
    for part in path:
        if isinstance(value, dict):
            if part not in value:
                fields = ", ".join(map(str, value)) or "none"
                raise _error(f"{ref}: {where} has no field {part!r} (fields: {fields})", mark, scope)
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            if int(part) >= len(value):
                raise _error(f"{ref}: {where} has {len(value)} item(s), no item {part}", mark, scope)
            value = value[int(part)]
        else:
            raise _error(f"{ref}: {where} is {describe_value(value)}, which has no fields", mark, scope)
        where = f"{where}.{part}"
    return value


def marked_copy(value: Any, mark: Mark) -> Any:
    """``value`` as loaded values are (MarkedDict / MarkedList), every part marked at ``mark``:
    where the reference that put it here is written."""
    if isinstance(value, dict):
        result = MarkedDict()
        result.mark = mark
        result.key_marks, result.value_marks = {}, {}
        for k, v in value.items():
            result[k] = marked_copy(v, mark)
            result.key_marks[k] = result.value_marks[k] = mark
        return result
    if isinstance(value, list):
        items = MarkedList(marked_copy(v, mark) for v in value)
        items.mark, items.item_marks = mark, [mark] * len(items)
        return items
    return value


def _error(message: str, mark: Mark, scope: Scope) -> ConfigError:
    return ConfigError(
        ConfigIssue(in_context(message, scope.context), file=mark.file, line=mark.line, column=mark.column)
    )
