"""The Stack model (built from the kinds) and the translation of pydantic errors to file:line."""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from reconciler.common.redact import safe_url
from reconciler.config.lifecycle import with_lifecycle
from reconciler.config.loader import Mark, MarkedDict, MarkedList
from reconciler.config.references import VARIABLE_NAME
from reconciler.config.variables import VariableSpec
from reconciler.config.watch import WatchSettings
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS, KINDS_BY_NAME
from reconciler.policy.settings import PolicySettings
from reconciler.providers.settings import Providers
from reconciler.state.settings import StateSettings

__all__ = ["ModuleCall", "StackBase", "stack_model", "validate_part", "validate_stack"]

ALL_KINDS = frozenset(KINDS_BY_NAME)
SCHEMA_ID = "https://reconciler.dev/schemas/stack.schema.json"
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class ModuleCall(BaseModel):
    """``modules: NAME: {source, vars}``: the stack files of a folder, instantiated with values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="the module's folder, relative to the file that calls it")
    vars: dict[str, typing.Any] = Field(
        default_factory=dict, description="values of the module's variables (may use ${var.…})"
    )
    for_each: list[str] | dict[str, typing.Any] | str | None = Field(
        default=None,
        description="one instance of the module per item of a list of strings or per key of a map (or a "
        '${var.…} holding one), module.NAME["KEY"]; its vars may use ${each.key} / ${each.value}',
    )


_VariableName = typing.Annotated[str, pydantic.StringConstraints(pattern=f"^{VARIABLE_NAME.pattern}$")]
_ModuleName = typing.Annotated[str, pydantic.StringConstraints(pattern=_NAME_PATTERN)]


class StackBase(BaseModel):
    """The sections of a stack other than its resources. A new top-level block is a field here.

    ``variables`` and ``modules`` are evaluated away before a stack is validated (config/instantiate.py):
    they are fields so that the schema and the did-you-mean hints know them."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="reconciler stack")

    version: typing.Literal[1] = Field(description="stack format version; always 1")
    variables: dict[_VariableName, VariableSpec] = Field(
        default_factory=dict, description="inputs: --var, --var-file, RECONCILER_VAR_NAME, default"
    )
    modules: dict[_ModuleName, ModuleCall] = Field(
        default_factory=dict, description="folders of stack files instantiated here with values"
    )
    providers: Providers = Providers()
    state: StateSettings = StateSettings()
    policy: PolicySettings | None = None
    watch: WatchSettings = WatchSettings()

    @pydantic.field_validator("version", mode="before")
    @classmethod
    def _the_integer_one(cls, value: Any) -> Any:
        """YAML's ``true`` and ``1.0`` equal 1 in Python; the format version is the integer 1."""
        if type(value) is not int:
            raise ValueError("unsupported stack format version")
        return value


def _kind_field(kind: Any) -> Any:
    pattern = kind.name_rule[0] if kind.name_rule else _NAME_PATTERN
    names = typing.Annotated[str, pydantic.StringConstraints(pattern=pattern)]
    return (dict[names, with_lifecycle(kind)], Field(default_factory=dict, description=kind.summary))  # type: ignore[valid-type, misc]


@functools.cache
def stack_model(kinds: frozenset[str] = ALL_KINDS) -> type[StackBase]:
    """The Stack model with the fields of ``kinds`` (every kind by default: the schema, the
    hints). A stack validates against the model of the kinds it names, so a stack of cores never
    builds the other kinds' validators (start-up); each model is built once per process."""
    fields = {kind.name: _kind_field(kind) for kind in KINDS if kind.name in kinds}
    return create_model("Stack", __base__=StackBase, **fields)  # type: ignore[call-overload, no-any-return]


def validate_stack(
    data: MarkedDict, secrets: set[tuple[str, int, int]] | frozenset[tuple[str, int, int]]
) -> StackBase:
    """Validate the merged stack, or raise ConfigError listing every issue with its location.
    ``secrets``: (file, line, column) of values never to be echoed."""
    named = frozenset(key for key in data if key in KINDS_BY_NAME)
    try:
        return stack_model(named).model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, (), data, secrets) from None


@functools.cache
def _section_adapter(section: str) -> pydantic.TypeAdapter[typing.Any]:
    """Built once per process: a fleet validates one module's sections once per call."""
    annotation = StackBase.model_fields[section].annotation
    assert annotation is not None
    return pydantic.TypeAdapter(annotation)


def validate_part(data: MarkedDict, section: str, secrets: typing.Any = frozenset()) -> typing.Any:
    """Validate one section of a document (``variables``, ``modules``) as the stack model types it,
    with the same messages."""
    try:
        return _section_adapter(section).validate_python(data[section])
    except ValidationError as exc:
        raise _config_error(exc, (section,), data, secrets) from None


def _config_error(
    exc: ValidationError, prefix: tuple[str, ...], data: MarkedDict, secrets: typing.Any
) -> ConfigError:
    errors = [{**err, "loc": (*prefix, *err["loc"])} for err in exc.errors(include_url=False)]
    issues = [_issue(err, data, secrets) for err in _one_per_mistake(errors)]
    issues.sort(key=lambda i: (i.file or "", i.line or 0, i.column or 0))
    return ConfigError(_dedupe(issues))


def _one_per_mistake(errors: list[Any]) -> list[Any]:
    """Drop "required field is missing" for a field an unknown one was a misspelling of: the
    did-you-mean line already says it (``precison`` → ``precision``), one mistake, one message."""
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            close = _suggestion(tuple(err["loc"]))
            if close is not None:
                meant.add((*tuple(err["loc"])[:-1], close))
    return [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]


def _suggestion(loc: tuple[Any, ...]) -> str | None:
    """The field an unknown field at ``loc`` probably meant, if one is close enough."""
    model = _model_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), _allowed_names(model) if model else [], n=1, cutoff=0.6)
    return close[0] if close else None


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        if str(issue) not in seen:
            seen.add(str(issue))
            out.append(issue)
    return out


def _locate(data: Any, loc: tuple[Any, ...]) -> tuple[Mark | None, bool]:
    """Walk ``loc`` into the loaded data; return the best mark and whether it is the key's own."""
    node, mark, exact = data, getattr(data, "mark", None), False
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, MarkedDict) and part in node:
            mark = node.key_marks[part] if last else node.value_marks[part]
            exact = True
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            mark = node.item_marks[part]
            exact = True
            node = node[part]
        else:
            return (getattr(node, "mark", mark), False)
    return (mark, exact)


def _value_mark(data: Any, loc: tuple[Any, ...]) -> Mark | None:
    node: Any = data
    for i, part in enumerate(loc):
        if isinstance(node, MarkedDict) and part in node:
            if i == len(loc) - 1:
                return node.value_marks[part]
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            if i == len(loc) - 1:
                return node.item_marks[part]
            node = node[part]
        else:
            return None
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc`` (for "did you mean" hints)."""
    annotation: Any = stack_model()
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_by_alias(annotation, part)
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return None
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _field_by_alias(model: type[BaseModel], name: Any) -> Any:
    for field_name, field in model.model_fields.items():
        if (field.alias or field_name) == name:
            return field
    return None


def _allowed_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str) and "@" in value and "://" in value:
        value = safe_url(value)  # never echo a URL's credentials
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_VALID_DICT = re.compile(r"a valid dictionary( or instance of \w+)?")


def _strip_prefix(message: str) -> str:
    return message[len("Value error, ") :] if message.startswith("Value error, ") else message


def _issue(err: Any, data: MarkedDict, secrets: set[tuple[str, int, int]]) -> ConfigIssue:
    loc = tuple(err["loc"])
    kind = err["type"]
    if loc and loc[-1] == "[key]":
        # A bad mapping key (e.g. a resource name): point at the key itself.
        loc = loc[:-1]
        mark, _exact = _locate(data, loc)
        rule = KINDS_BY_NAME[loc[0]].name_rule if loc and loc[0] in KINDS_BY_NAME else None
        if loc and loc[0] == "variables":  # also the tail of RECONCILER_VAR_NAME
            rule = ("", "a variable's name has only letters, digits and '_', and does not start with a digit")
        return ConfigIssue(
            message=f"invalid name {loc[-1]!r}: {rule[1]}"
            if rule
            else f"invalid name {loc[-1]!r}: a name starts with a letter or digit and has only letters, "
            "digits, '_', '.' and '-' (at most 100)",
            file=mark.file if mark else None,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            field=".".join(str(p) for p in loc) or None,
        )
    field_path = ".".join(str(p) for p in loc) or None
    mark, _exact = _locate(data, loc)
    message = _strip_prefix(err["msg"])
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = _allowed_names(model) if model else []
        message = f"unknown field {loc[-1]!r}"
        close = _suggestion(loc)
        if close:
            message += f" (did you mean {close!r}?)"
        elif allowed:
            message += f"; expected one of: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required field is missing"
    else:
        value_mark = _value_mark(data, loc)
        is_secret = (
            value_mark is not None and (value_mark.file, value_mark.line, value_mark.column) in secrets
        )
        if value_mark is not None:
            mark = value_mark
        message = _VALID_DICT.sub("a mapping", message)  # YAML's word, not Python's
        scalar_input = "input" in err and not isinstance(err["input"], dict | list)
        if (scalar_input or kind.endswith("_type")) and ", got " not in message:
            shown = "a value from the environment" if is_secret else _describe(err.get("input"))
            message = f"{message}, got {shown}"
        if isinstance(err.get("input"), bool) and kind not in ("bool_type", "bool_parsing"):
            message += (
                ' (YAML reads on/off, yes/no and true/false unquoted as booleans: quote the word, e.g. "on")'
            )
    if loc == ("version",) and kind in ("literal_error", "value_error"):
        message = f"unsupported stack format version (expected 1), got {_describe(err.get('input'))}"
    return ConfigIssue(
        message=message,
        file=mark.file if mark else None,
        line=mark.line if mark else None,
        column=mark.column if mark else None,
        field=field_path,
    )
