"""``variables:``: what a stack (or a module) takes as input, and where each value comes from.

A root stack's variable takes its value from, first to last (the first that has one wins):

1. ``--var NAME=VALUE`` (VALUE read as YAML; the text as it is for a ``string``),
2. ``--var-file FILE`` (a YAML mapping; a later file wins over an earlier one),
3. the environment variable ``RECONCILER_VAR_NAME`` (read like ``--var``),
4. its ``default``.

A module's variables take their values from the call's ``vars:``, then their defaults. A value is
checked against the declared type and rules before anything uses it; an error names the variable,
where it is declared and where the value came from. A ``sensitive`` variable's value is never shown
and the fields it ends up in are sensitive, as a value from ``${env:…}`` is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.common.redact import safe_url
from reconciler.config.expansion import check_events
from reconciler.config.loader import MAX_DEPTH, MAX_VALUES, Mark, MarkedDict, MarkedList
from reconciler.config.references import VARIABLE_NAME
from reconciler.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "NO_INPUTS",
    "Declared",
    "Value",
    "VarType",
    "VariableInputs",
    "VariableSpec",
    "describe_value",
    "parse_type",
]

ENV_PREFIX = "RECONCILER_VAR_"
_TYPE = re.compile(r"(string|number|bool|any|list|map)(?:\((.+)\))?")
TYPE_DOC = (
    "string, number, bool, list, map or any; list(T) and map(T) say the type of the items, "
    "e.g. list(map) or map(number)"
)


def describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str) and "@" in value and "://" in value:
        value = safe_url(value)  # never echo a URL's credentials (as config/stack.py's messages)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class VarType:
    name: str
    items: VarType | None = None

    def __str__(self) -> str:
        return f"{self.name}({self.items})" if self.items else self.name

    def problem(self, value: Any, describe: Callable[[Any], str] = describe_value) -> str | None:
        """What is wrong with ``value`` for this type, or None (``describe`` shows a wrong value)."""
        name = self.name
        if name == "any":
            return None
        fits = {
            "string": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "list": isinstance(value, list),
            "map": isinstance(value, dict),
        }[name]
        if not fits:
            return f"expected {_article(name)}, got {describe(value)}"
        if self.items is None:
            return None
        if isinstance(value, list):
            entries: list[tuple[str, Any]] = [(f"item {i + 1}", v) for i, v in enumerate(value)]
        else:
            entries = [(f"key {k!r}", v) for k, v in value.items()]
        for label, item in entries:
            problem = self.items.problem(item, describe)
            if problem is not None:
                return f"{label}: {problem}"
        return None


def _hidden(value: Any) -> str:
    return "a sensitive value"


def _article(name: str) -> str:
    return {"string": "a string", "number": "a number", "bool": "true or false"}.get(name, f"a {name}")


def parse_type(text: str) -> VarType | None:
    match = _TYPE.fullmatch(text.strip())
    if match is None:
        return None
    name, inner = match.group(1), match.group(2)
    if inner is None:
        return VarType(name)
    if name not in ("list", "map"):
        return None
    items = parse_type(inner)
    return VarType(name, items) if items else None


class VariableSpec(BaseModel):
    """One declared variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description=TYPE_DOC)
    default: Any = Field(default=None, description="the value when none is given (without one: required)")
    description: str | None = Field(default=None, description="what the variable is for")
    sensitive: bool = Field(
        default=False,
        description="never shown; the fields it ends up in are sensitive (digest only in state), "
        "as a value from ${env:…} is",
    )
    min: float | None = Field(default=None, description="a number: the smallest allowed")
    max: float | None = Field(default=None, description="a number: the largest allowed")
    allowed: list[str | int | float | bool] | None = Field(
        default=None, description="the only values allowed"
    )
    pattern: str | None = Field(
        default=None, description="a string: a regular expression it must match whole"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if parse_type(value) is None:
            raise ValueError(f"unknown type {value!r}; a type is {TYPE_DOC}")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _rules_fit_the_type(self) -> VariableSpec:
        kind = self.var_type.name
        if (self.min is not None or self.max is not None) and kind not in ("number", "any"):
            raise ValueError(f"min and max apply to a number, not to a {kind}")
        if self.pattern is not None and kind not in ("string", "any"):
            raise ValueError(f"pattern applies to a string, not to a {kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self

    @property
    def var_type(self) -> VarType:
        parsed = parse_type(self.type)
        assert parsed is not None  # checked by _known_type
        return parsed

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set

    def problem(self, value: Any, sensitive: bool = False) -> str | None:
        """What is wrong with ``value`` (type, then the rules), or None; a sensitive value is not shown."""
        sensitive = sensitive or self.sensitive
        problem = self.var_type.problem(value, _hidden if sensitive else describe_value)
        if problem is not None:
            return problem
        shown = "the value" if sensitive else describe_value(value)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.min is not None and is_number and value < self.min:
            return f"{shown} is below the minimum {self.min:g}"
        if self.max is not None and is_number and value > self.max:
            return f"{shown} is above the maximum {self.max:g}"
        if self.allowed is not None and not any(_same(value, a) for a in self.allowed):
            return f"{shown} is not one of the allowed values: {', '.join(map(describe_value, self.allowed))}"
        if self.pattern is not None and isinstance(value, str) and not re.fullmatch(self.pattern, value):
            return f"{shown} does not match the pattern {self.pattern!r}"
        return None


def _same(value: Any, allowed: Any) -> bool:
    """Equal and of one kind: YAML's true is not 1, though Python says so; 64 is 64.0."""
    return value == allowed and (isinstance(value, bool) is isinstance(allowed, bool))


@dataclass(frozen=True)
class Declared:
    name: str
    spec: VariableSpec
    mark: Mark  # where the declaration is written
    default_mark: Mark | None = None
    default: Any = None  # as loaded (references are refused when it is evaluated)

    @property
    def where(self) -> str:
        return f"{self.mark.file}:{self.mark.line}:{self.mark.column}"


@dataclass(frozen=True)
class Value:
    """A variable's value, with where it came from (for messages) and whether it is a secret."""

    value: Any
    source: str  # e.g. "--var env", "RECONCILER_VAR_env", "its default"
    mark: Mark | None = None  # where the value is written, if in a file
    sensitive: bool = False


@dataclass(frozen=True)
class VariableInputs:
    """What the command line gave: ``--var NAME=VALUE`` (as typed, in order) and ``--var-file FILE``."""

    assignments: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.assignments or self.files)


NO_INPUTS = VariableInputs()


def parse_assignment(text: str) -> tuple[str, str] | None:
    """``NAME=VALUE`` as (NAME, VALUE); None when it is not one."""
    name, equals, value = text.partition("=")
    if not equals or not VARIABLE_NAME.fullmatch(name):
        return None
    return name, value


def from_text(text: str, spec: VariableSpec) -> Any:
    """A value given as text (``--var``, ``RECONCILER_VAR_…``): the text itself for a string,
    else read as YAML (``--var sizes='{small: 64}'``). ValueError if it is not YAML."""
    if spec.var_type.name == "string":
        return text
    try:
        # The limits of a stack file (depth, what aliases may expand to), before anything is built.
        check_events(yaml.parse(text, Loader=yaml.SafeLoader), "the value", MAX_VALUES, MAX_DEPTH)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ValueError(f"the value is not valid YAML ({problem})") from None
    except ConfigError as exc:
        raise ValueError(exc.issues[0].message) from None


def plain(value: Any) -> Any:
    """A loaded value as plain dicts and lists (what a variable holds)."""
    if isinstance(value, MarkedDict | dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, MarkedList | list):
        return [plain(v) for v in value]
    return value


def environment_value(name: str, environ: Mapping[str, str]) -> str | None:
    return environ.get(ENV_PREFIX + name)
