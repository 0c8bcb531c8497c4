"""Expand a stack: variables, ``for_each`` and modules, into one plain document of resources.

Runs between merging a stack's files (config/merge.py) and validating them (config/stack.py), on
the loaded tree, so every value keeps the file, line and column it was written at. What comes
out is a stack as if written by hand: ``variables:`` and ``modules:`` gone, each ``for_each``
instance an ordinary resource under its expanded name, each module's resources in the one
namespace of the stack (names are identities on the APIs). Beside it: where each resource came
from (module and ``for_each`` key), which error messages and plans show.

A module is a folder of ordinary stack files (``version: 1``, its own ``variables:``, resources,
``modules:``) without the root stack's ``providers:`` and ``state:``. Its files are read and
parsed once per process (config/modules.py), however many stacks and calls use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.evaluate import (
    Evaluator,
    Scope,
    SecretMarks,
    checked,
    in_context,
    issue_at,
    with_context,
)
from reconciler.config.inputs import VariableValues
from reconciler.config.loader import LoadedFile, Mark, MarkedDict
from reconciler.config.modules import load_module
from reconciler.config.references import Reference, Template
from reconciler.config.refs import holds_secret
from reconciler.config.stack import ModuleCall, validate_part
from reconciler.config.variables import ENV_PREFIX, Value, VariableInputs, describe_value
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS_BY_NAME

__all__ = ["Expanded", "Origin", "add_origins", "expand_stack"]

# Sections only a root stack has: how to reach the APIs, where state lives, which policies gate it.
ROOT_ONLY = frozenset({"providers", "state", "policy", "watch"})
MAX_RESOURCES = 200_000  # after expansion: a module fan-out must not make a stack unbounded


@dataclass(frozen=True)
class Origin:
    """Where an expanded resource came from."""

    module: str  # "module.team-a", "module.team-a.module.inner"; "" for the root stack
    context: str  # for messages, e.g. "in module.team-a (called at stack.yaml:4:3), for_each key 'small'"


@dataclass
class Expanded:
    document: MarkedDict
    origins: dict[str, Origin]  # address -> origin, for resources from a module or a for_each
    secrets: SecretMarks
    files: list[LoadedFile]  # the module files read (the root's are the caller's)
    variables: dict[str, Value]  # the root stack's variables
    secret_values: dict[str, str] = field(default_factory=dict)  # value -> env NAME (export)


@dataclass(frozen=True)
class _Frame:
    """One stack or module instance being expanded."""

    scope: Scope
    module: str  # "" at the root
    folders: tuple[Path, ...]  # the module folders called on the way here, resolved (cycles)
    where: str  # who declares what this frame adds, for collision messages
    calls: tuple[str, ...] = ()  # "module.x called at FILE:LINE:COL", innermost first
    shown: tuple[Path, ...] = ()  # ``folders`` as the user wrote them (messages)


def expand_stack(
    merged: MarkedDict,
    root_files: list[LoadedFile],
    inputs: VariableInputs,
    environ: Mapping[str, str],
) -> Expanded:
    """The merged root document expanded: its variables' values, its for_each instances and its
    modules' resources (recursively), or a ConfigError listing what is wrong where."""
    secrets: SecretMarks = {
        (str(f.path), line, col) for f in root_files for (line, col) in f.secret_positions
    }
    if _written_out(merged, root_files, inputs):  # most stacks: nothing to expand, nothing to copy
        return Expanded(merged, {}, secrets, [], {})
    expansion = _Expansion(Evaluator(secrets), environ)
    expansion.out.mark = merged.mark
    declared = expansion.values.declarations(merged, "")
    variables = expansion.values.root_values(declared, merged, inputs)
    root_folder = Path(merged.mark.file).resolve().parent if merged.mark else Path(".").resolve()
    frame = _Frame(Scope(variables), "", (root_folder,), "", (), (root_folder,))
    expansion.instance(merged, frame)
    secret_values = {
        v.value: ENV_PREFIX + name
        for name, v in variables.items()
        if v.sensitive and v.source == ENV_PREFIX + name and isinstance(v.value, str)
    }
    return Expanded(expansion.out, expansion.origins, secrets, expansion.files, variables, secret_values)


def _written_out(merged: MarkedDict, root_files: list[LoadedFile], inputs: VariableInputs) -> bool:
    """Whether the stack uses none of variables, references, for_each and modules."""
    if inputs or "variables" in merged or "modules" in merged or any(f.templates for f in root_files):
        return False
    sections = (merged.get(kind) for kind in KINDS_BY_NAME)
    return not any(
        isinstance(body, dict) and "for_each" in body
        for section in sections
        if isinstance(section, dict)
        for body in section.values()
    )


class _Expansion:
    def __init__(self, evaluator: Evaluator, environ: Mapping[str, str]) -> None:
        self.evaluator = evaluator
        self.environ = environ
        self.values = VariableValues(evaluator, environ)
        self.out = MarkedDict()
        self.out.key_marks, self.out.value_marks = {}, {}
        self.origins: dict[str, Origin] = {}
        self.owners: dict[str, str] = {}  # address -> who declares it (collision messages)
        self.files: list[LoadedFile] = []
        self.count = 0

    # --- instances ---
    def instance(self, document: MarkedDict, frame: _Frame) -> None:
        """Add what one stack or module instance declares to the output."""
        issues: list[ConfigIssue] = []
        for key, body in document.items():
            key_mark, mark = document.key_marks[key], document.value_marks[key]
            if key == "variables":
                continue
            if key == "modules":
                self._modules(document, frame)
            elif key in KINDS_BY_NAME and isinstance(body, MarkedDict):
                self._section(str(key), body, frame)
            elif not frame.module:  # providers, state, a kind's section that is no mapping: validated as is
                self.out[key] = self.evaluator.value(body, mark, frame.scope)
                self.out.key_marks[key], self.out.value_marks[key] = key_mark, mark
            elif key in KINDS_BY_NAME:
                problem = f"{key}: expected a mapping of names to resources, got {describe_value(body)}"
                issues.append(issue_at(in_context(problem, frame.scope.context), mark))
            elif key in ROOT_ONLY:
                issues.append(
                    issue_at(
                        in_context(
                            f"a module has no {key}: section; {key} belongs to the root stack",
                            frame.scope.context,
                        ),
                        key_mark,
                    )
                )
            elif key == "version":
                if type(body) is not int or body != 1:
                    issues.append(
                        issue_at(
                            f"unsupported stack format version (expected 1), got {describe_value(body)}", mark
                        )
                    )
            else:
                allowed = ", ".join(["version", "variables", "modules", *KINDS_BY_NAME])
                issues.append(
                    issue_at(
                        in_context(
                            f"unknown section {key!r} in a module; expected one of: {allowed}",
                            frame.scope.context,
                        ),
                        key_mark,
                    )
                )
        if issues:
            raise ConfigError(issues)

    def _section(self, kind: str, section: MarkedDict, frame: _Frame) -> None:
        out = self.out.get(kind)
        if out is None:
            out = self.out[kind] = MarkedDict()
            out.mark, out.key_marks, out.value_marks = section.mark, {}, {}
            self.out.key_marks[kind] = self.out.value_marks[kind] = section.mark
        evaluate = self.evaluator.value
        for name, body in section.items():
            key_mark, mark = section.key_marks[name], section.value_marks[name]
            if type(name) is Template and _uses_sensitive(name, frame.scope):
                problem = (
                    "a resource name cannot use a sensitive variable: names are shown in plans and state"
                )
                raise ConfigError(issue_at(in_context(problem, frame.scope.context), key_mark))
            if isinstance(body, MarkedDict) and "for_each" in body:
                for scope, rest in self._instances(kind, name, body, key_mark, frame):
                    self._add(
                        kind,
                        evaluate(name, key_mark, scope),
                        evaluate(rest, mark, scope),
                        key_mark,
                        mark,
                        frame,
                        scope,
                    )
            else:
                self._add(
                    kind,
                    evaluate(name, key_mark, frame.scope),
                    evaluate(body, mark, frame.scope),
                    key_mark,
                    mark,
                    frame,
                    frame.scope,
                )

    def _instances(
        self, kind: str, name: Any, body: MarkedDict, key_mark: Mark, frame: _Frame
    ) -> list[tuple[Scope, MarkedDict]]:
        context = frame.scope.context
        at = body.value_marks["for_each"]
        if not (isinstance(name, Template) and name.uses("each", "key")):
            raise ConfigError(
                issue_at(
                    in_context(
                        f"{kind}.{name}: with for_each, the name must use ${{each.key}} (else every instance "
                        f'would be called {name!r}), e.g. "{name}-${{each.key}}"',
                        context,
                    ),
                    key_mark,
                )
            )
        pairs = self._for_each_pairs(body["for_each"], at, frame.scope)
        rest = MarkedDict((k, v) for k, v in body.items() if k != "for_each")
        rest.mark = body.mark
        rest.key_marks = {k: m for k, m in body.key_marks.items() if k != "for_each"}
        rest.value_marks = {k: m for k, m in body.value_marks.items() if k != "for_each"}
        return [(frame.scope.with_each(key, value), rest) for key, value in pairs]

    def _for_each_pairs(self, node: Any, at: Mark, scope: Scope) -> list[tuple[str, Any]]:
        """A for_each's (key, value) pairs: a map's items, or a list of strings (key = value)."""
        context = scope.context
        items = self.evaluator.value(node, at, scope)
        if holds_secret(at, items, frozenset(self.evaluator.secrets)):
            problem = "for_each cannot use a sensitive value: its keys become resource names, which are shown"
            raise ConfigError(issue_at(in_context(problem, context), at))
        pairs: list[tuple[str, Any]]
        if isinstance(items, dict):
            pairs = [(str(k), v) for k, v in items.items()]
        elif isinstance(items, list):
            bad = next((i for i in items if not isinstance(i, str)), None)
            if bad is not None:
                raise ConfigError(
                    issue_at(
                        in_context(
                            f"for_each over a list takes strings (each is an instance's key), got "
                            f"{describe_value(bad)}; for a list of maps, use a map keyed by name",
                            context,
                        ),
                        at,
                    )
                )
            seen: set[str] = set()
            for item in items:
                if item in seen:
                    raise ConfigError(issue_at(in_context(f"for_each lists {item!r} twice", context), at))
                seen.add(item)
            pairs = [(i, i) for i in items]
        else:
            raise ConfigError(
                issue_at(
                    in_context(
                        f"for_each takes a list of strings or a map, got {describe_value(items)}", context
                    ),
                    at,
                )
            )
        return pairs

    def _add(
        self, kind: str, name: Any, body: Any, key_mark: Mark, mark: Mark, frame: _Frame, scope: Scope
    ) -> None:
        if (
            isinstance(name, str)
            and (key_mark.file, key_mark.line, key_mark.column) in self.evaluator.secrets
        ):
            problem = "a resource name cannot use a sensitive value: names are shown in plans and state"
            raise ConfigError(issue_at(in_context(problem, scope.context), key_mark))
        if not isinstance(name, str):
            raise ConfigError(
                issue_at(
                    in_context(f"a resource name must be text, got {describe_value(name)}", scope.context),
                    key_mark,
                )
            )
        address = f"{kind}.{name}"
        where = frame.where or f"{key_mark.file}:{key_mark.line}:{key_mark.column}"
        first = self.owners.get(address)
        if first is not None:
            raise ConfigError(
                issue_at(
                    in_context(
                        f"{address} is declared twice: first by {first}, again by {where}; a name is the "
                        "resource's identity on the API, so one stack holds it once",
                        scope.context,
                    ),
                    key_mark,
                )
            )
        self.count += 1
        if self.count > MAX_RESOURCES:
            raise ConfigError(
                issue_at(
                    in_context(f"more than {MAX_RESOURCES:,} resources once expanded", scope.context),
                    key_mark,
                )
            )
        self.owners[address] = where
        section = self.out[kind]
        section[name] = body
        section.key_marks[name], section.value_marks[name] = key_mark, mark
        if scope.context:
            self.origins[address] = Origin(frame.module, scope.context)

    # --- modules ---
    def _modules(self, document: MarkedDict, frame: _Frame) -> None:
        calls = checked(lambda: validate_part(document, "modules"), frame.scope.context)
        section = document["modules"]
        for name, call in calls.items():
            self._call(str(name), call, section[name], section.key_marks[name], frame)

    def _call(self, name: str, call: ModuleCall, body: MarkedDict, call_mark: Mark, frame: _Frame) -> None:
        base = f"{frame.module}.module.{name}" if frame.module else f"module.{name}"
        if call.for_each is None:
            self._instantiate(base, body, call_mark, frame, frame.scope)
            return
        at = body.value_marks["for_each"]
        for key, value in self._for_each_pairs(body["for_each"], at, frame.scope):
            # module.teams["a"], as Terraform writes an instance of a module with for_each
            self._instantiate(
                f"{base}[{json.dumps(key)}]", body, call_mark, frame, frame.scope.with_each(key, value)
            )

    def _instantiate(
        self, address: str, body: MarkedDict, call_mark: Mark, frame: _Frame, scope: Scope
    ) -> None:
        """One instance of a module call: its source loaded (once per process), its variables given
        values in the caller's ``scope``, its content expanded."""
        called_at = f"called at {call_mark.file}:{call_mark.line}:{call_mark.column}"
        calls = (f"{address} {called_at}", *frame.calls)
        # e.g. "in module.one.module.two (called at a/stack.yaml:3:3 ← module.one called at stack.yaml:3:3)"
        context = f"in {address} ({' ← '.join([called_at, *frame.calls])})"
        source_mark = body.value_marks["source"]
        source = self.evaluator.value(body["source"], source_mark, scope)
        if not isinstance(source, str) or not source:
            problem = f"{address}: source must be a folder, got {describe_value(source)}"
            raise ConfigError(issue_at(in_context(problem, scope.context), source_mark))
        folder = Path(os.path.normpath(Path(call_mark.file).parent / source))  # as the user would write it
        if not folder.is_dir():
            problem = f"{address}: source {source!r} is not a folder ({folder})"
            raise ConfigError(issue_at(in_context(problem, scope.context), source_mark))
        resolved = folder.resolve()
        if resolved in frame.folders:
            start = frame.folders.index(resolved)
            chain = " → ".join(str(f) for f in (*frame.shown[start:], folder))
            problem = f"{address}: module cycle: {chain}"
            raise ConfigError(issue_at(in_context(problem, scope.context), source_mark))
        module = load_module(folder, resolved, self.environ)
        if module.files[0] not in self.files:
            self.files.extend(module.files)
            for f in module.files:
                self.evaluator.secrets.update((str(f.path), line, col) for (line, col) in f.secret_positions)
        declared = self.values.declarations(module.document, context)
        variables = self.values.module_values(address, declared, body, scope, context)
        inner = _Frame(
            Scope(variables, None, context),
            address,
            (*frame.folders, resolved),
            f"{address} ({called_at})",
            calls,
            (*frame.shown, folder),
        )
        self.instance(module.document, inner)


def _uses_sensitive(template: Template, scope: Scope) -> bool:
    variables = scope.variables or {}
    return any(
        isinstance(p, Reference)
        and p.root == "var"
        and p.path[0] in variables
        and variables[p.path[0]].sensitive
        for p in template.parts
    )


def add_origins(error: ConfigError, origins: Mapping[str, Origin]) -> ConfigError:
    """``error`` with each issue about a resource from a module or for_each told where from."""
    if not origins:
        return error
    issues = []
    for issue in error.issues:
        origin = _origin_of(issue.field, origins) if issue.field else None
        issues.append(with_context(issue, origin.context) if origin else issue)
    return ConfigError(issues)


def _origin_of(field_path: str, origins: Mapping[str, Origin]) -> Origin | None:
    """The origin of the resource a dotted field path is in (a name may hold dots itself)."""
    parts = field_path.split(".")
    for end in range(len(parts), 1, -1):
        origin = origins.get(".".join(parts[:end]))
        if origin is not None:
            return origin
    return None
