"""Turn a validated Stack into Desired resources, resolving references between them."""

from __future__ import annotations

import graphlib
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from reconciler.config.loader import Mark, MarkedDict, MarkedList
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS, KINDS_BY_NAME
from reconciler.kinds.base import DeriveError, Kind, LoadContext
from reconciler.values import Desired, Location, Ref

__all__ = ["desired_resources", "holds_secret"]


# Fields of a resource's spec that say how to declare it, not what it is.
_META_FIELDS = frozenset({"lifecycle", "for_each"})


def desired_resources(
    stack: Any,
    data: MarkedDict,
    secret_marks: frozenset[tuple[str, int, int]] = frozenset(),
    modules: Mapping[str, str] | None = None,
) -> list[Desired]:
    """``secret_marks``: (file, line, column) of values from ${env:…}, never echoed in errors;
    ``modules``: address -> the module it came from (``module.team-a``), for those from one."""
    modules = modules or {}
    names = {kind.name: set(getattr(stack, kind.name, {})) for kind in KINDS}  # only named kinds are fields
    issues: list[ConfigIssue] = []
    result: list[Desired] = []
    shared: dict[str, Any] = {}  # LoadContext.shared: one per stack load
    members: dict[str, list[str]] = {}  # address of an expanded resource -> its members' addresses
    for kind in KINDS:
        section = data.get(kind.name) if isinstance(data.get(kind.name), MarkedDict) else None
        for name, spec in getattr(stack, kind.name, {}).items():
            attrs = spec.model_dump(by_alias=True, exclude_unset=True, mode="json", exclude=_META_FIELDS)
            create_attrs = spec.model_dump(by_alias=True, mode="json", exclude=_META_FIELDS)
            body = section.get(name) if section is not None else None
            for field, ref in kind.references.items():
                value = attrs.get(field)
                if value is None:
                    continue
                if value in names.get(ref.kind, ()):
                    attrs[field] = create_attrs[field] = Ref(f"{ref.kind}.{value}")
                elif not ref.is_literal(value):
                    declared = sorted(names.get(ref.kind, ()))
                    hint = (
                        f" (declared: {', '.join(declared)})"
                        if declared
                        else f" (no {ref.kind} are declared)"
                    )
                    pattern = f" nor an id matching {ref.literal.pattern}" if ref.literal else ""
                    mark = body.value_marks.get(field) if isinstance(body, MarkedDict) else None
                    secret = mark is not None and (mark.file, mark.line, mark.column) in secret_marks
                    shown = "the value from the environment" if secret else repr(value)
                    issues.append(
                        ConfigIssue(
                            f"{shown} is not one of this stack's {ref.kind}{pattern}{hint}",
                            file=mark.file if mark else None,
                            line=mark.line if mark else None,
                            column=mark.column if mark else None,
                            field=f"{kind.name}.{name}.{field}",
                        )
                    )
            mark = section.key_marks.get(name) if section is not None else None
            location = Location(mark.file, mark.line) if mark else None
            # Only kinds with load-time hooks need it: resolving a folder per resource costs syscalls.
            hooked = kind.derive is not None or kind.expand is not None
            context = LoadContext(_base_dir(mark), stack.providers, shared) if hooked else None
            if kind.derive is not None:
                assert context is not None
                issue = _hook(
                    kind, name, body, mark, partial(_merge, kind, name, attrs, create_attrs, context)
                )
                if issue is not None:
                    issues.append(issue)
                    continue
            sensitive = _sensitive_fields(body, secret_marks)
            module = modules.get(f"{kind.name}.{name}", "")
            after, after_issues = _after(kind, name, spec, body, names, members)
            issues.extend(after_issues)
            if kind.expand is not None:
                expanded: list[tuple[str, dict[str, Any]]] = []
                assert context is not None
                issue = _hook(
                    kind, name, body, mark, partial(_expand, kind, name, create_attrs, context, expanded)
                )
                if issue is not None:
                    issues.append(issue)
                    continue
                parts = [
                    Desired(
                        kind.name,
                        f"{name}/{member}",
                        a,
                        a,
                        location,
                        spec.lifecycle,
                        sensitive,
                        after,
                        module,
                    )
                    for member, a in expanded
                ]
                members[f"{kind.name}.{name}"] = [d.address for d in parts]
                result.extend(parts)
                continue
            result.append(
                Desired(
                    kind.name, name, attrs, create_attrs, location, spec.lifecycle, sensitive, after, module
                )
            )
    issues.extend(_duplicate_keys(result))
    if issues:
        raise ConfigError(issues)
    _check_cycles(result)
    return result


def _sensitive_fields(body: Any, secret_marks: frozenset[tuple[str, int, int]]) -> frozenset[str]:
    """The resource's fields that hold a value from ${env:…}, at any depth (sensitive by default)."""
    if not secret_marks or not isinstance(body, MarkedDict):
        return frozenset()
    return frozenset(f for f, v in body.items() if holds_secret(body.value_marks.get(f), v, secret_marks))


def holds_secret(mark: Mark | None, value: Any, secret_marks: frozenset[tuple[str, int, int]]) -> bool:
    if mark is not None and (mark.file, mark.line, mark.column) in secret_marks:
        return True
    if isinstance(value, MarkedDict):
        return any(holds_secret(value.value_marks.get(k), v, secret_marks) for k, v in value.items())
    if isinstance(value, MarkedList):
        return any(holds_secret(m, v, secret_marks) for m, v in zip(value.item_marks, value, strict=False))
    return False


def _base_dir(mark: Mark | None) -> Path:
    """The folder of the stack file declaring a resource: its relative paths start (and stay) there."""
    return (Path(mark.file).parent if mark else Path(".")).resolve()


def _merge(
    kind: Kind, name: str, attrs: dict[str, Any], create_attrs: dict[str, Any], context: LoadContext
) -> None:
    """``Kind.derive``: add fields computed from local files (e.g. a package digest) to the attrs."""
    derived = kind.derive(name, create_attrs, context)  # type: ignore[misc]
    attrs.update(derived)
    create_attrs.update(derived)


def _expand(
    kind: Kind, name: str, attrs: dict[str, Any], context: LoadContext, into: list[tuple[str, dict[str, Any]]]
) -> None:
    """``Kind.expand``: the members a resource stands for (the files of a folder)."""
    assert kind.expand is not None
    into.extend(kind.expand(name, attrs, context))


def _hook(kind: Kind, name: str, body: Any, mark: Mark | None, call: Callable[[], Any]) -> ConfigIssue | None:
    """Run a kind's load-time hook; its DeriveError becomes an issue at the field's file:line."""
    try:
        call()
    except DeriveError as exc:
        where = body.value_marks.get(exc.field) if exc.field and isinstance(body, MarkedDict) else None
        where = where or mark
        return ConfigIssue(
            exc.message,
            file=where.file if where else None,
            line=where.line if where else None,
            column=where.column if where and where is not mark else None,
            field=f"{kind.name}.{name}" + (f".{exc.field}" if exc.field else ""),
        )
    return None


def _after(
    kind: Kind, name: str, spec: Any, body: Any, names: dict[str, set[str]], members: dict[str, list[str]]
) -> tuple[tuple[str, ...], list[ConfigIssue]]:
    """``Kind.comes_after``: the addresses this resource waits for (an expanded one: its members),
    and an issue for each name that is not declared."""
    if kind.comes_after is None:
        return (), []
    after: list[str] = []
    issues = []
    for target_kind, target, field in kind.comes_after(spec):
        if target not in names.get(target_kind, ()):
            declared = ", ".join(sorted(names.get(target_kind, ()))) or f"no {target_kind} are declared"
            top = re.split(r"[.\[]", field, maxsplit=1)[0]
            mark = body.value_marks.get(top) if isinstance(body, MarkedDict) else None
            issues.append(
                ConfigIssue(
                    f"{target!r} is not one of this stack's {target_kind} ({declared})",
                    file=mark.file if mark else None,
                    line=mark.line if mark else None,
                    field=f"{kind.name}.{name}.{field}",
                )
            )
            continue
        address = f"{target_kind}.{target}"
        after.extend(members.get(address, [address]))
    return tuple(dict.fromkeys(after)), issues


def _check_cycles(resources: list[Desired]) -> None:
    edges = [(r.address, [v.address for v in r.attrs.values() if isinstance(v, Ref)]) for r in resources]
    if not any(targets for _address, targets in edges):
        return  # no reference at all (many stacks): no cycle, and no graph to build
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for address, targets in edges:
        sorter.add(address, *targets)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        by_address = {r.address: r for r in resources}
        where = by_address.get(cycle[0])
        raise ConfigError(
            ConfigIssue(
                "reference cycle: " + " → ".join(cycle),
                file=where.location.file if where and where.location else None,
                line=where.location.line if where and where.location else None,
            )
        ) from None


def _duplicate_keys(resources: list[Desired]) -> list[ConfigIssue]:
    """Two resources with one natural key would both adopt the same live object."""
    seen: dict[tuple[str, tuple[str, ...]], Desired] = {}
    issues = []
    for res in resources:
        kind = KINDS_BY_NAME[res.kind]
        key = (res.kind, kind.natural_key(res.name, res.create_attrs))
        first = seen.setdefault(key, res)
        if first is not res:
            where = f" (at {first.location})" if first.location else ""
            issues.append(
                ConfigIssue(
                    f"same natural key as {first.address}{where}: "
                    f"{'(a value from the environment)' if res.sensitive else ' / '.join(key[1])} "
                    f"({kind.key_doc}); one live object can be managed by one resource only",
                    file=res.location.file if res.location else None,
                    line=res.location.line if res.location else None,
                    field=res.address,
                )
            )
    return issues
