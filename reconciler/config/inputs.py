"""The values of a stack's or a module's variables: gathered, typed and checked (config/variables.py
says where they come from and in which order)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.config.evaluate import Evaluator, Scope, checked, in_context, issue_at
from reconciler.config.loader import MarkedDict, load_file, stack_files
from reconciler.config.refs import holds_secret
from reconciler.config.stack import validate_part
from reconciler.config.variables import (
    ENV_PREFIX,
    Declared,
    Value,
    VariableInputs,
    from_text,
    parse_assignment,
)
from reconciler.errors import ConfigError, ConfigIssue

__all__ = ["VariableValues"]


class VariableValues:
    def __init__(self, evaluator: Evaluator, environ: Mapping[str, str]) -> None:
        self.evaluator = evaluator
        self.environ = environ

    def declarations(self, document: MarkedDict, context: str) -> dict[str, Declared]:
        """A document's ``variables:``, validated."""
        if "variables" not in document:
            return {}
        specs = checked(lambda: validate_part(document, "variables"), context)
        section = document["variables"]
        return {
            name: Declared(
                name,
                spec,
                section.key_marks[name],
                section[name].value_marks.get("default"),
                section[name].get("default"),
            )
            for name, spec in specs.items()
        }

    def root_values(
        self, declared: dict[str, Declared], document: MarkedDict, inputs: VariableInputs
    ) -> dict[str, Value]:
        """The root stack's values: --var, --var-file, RECONCILER_VAR_NAME, default (variables.py)."""
        here = document.key_marks.get("variables") or document.mark
        issues: list[ConfigIssue] = []
        given: dict[str, Value] = {}
        for path in inputs.files:
            given.update(self._file_values(path, declared, issues))
        for assignment in inputs.assignments:
            parsed = parse_assignment(assignment)
            if parsed is None:
                issues.append(
                    issue_at(f"--var {assignment!r}: expected NAME=VALUE (NAME: letters, digits and _)", here)
                )
                continue
            name, text = parsed
            if name not in declared:
                issues.append(issue_at(f"--var {name}: {_no_such(name, declared, 'the stack')}", here))
                continue
            value = self._text_value(declared[name], text, f"--var {name}", issues)
            if value is not None:
                given[name] = value
        values: dict[str, Value] = {}
        for name, decl in declared.items():
            value = given.get(name)
            from_environ = self.environ.get(ENV_PREFIX + name)
            if value is None and from_environ is not None:
                value = self._text_value(decl, from_environ, ENV_PREFIX + name, issues)
            if value is None:
                value = self._default(decl, "", issues)
            if value is None:
                if not any(i.message.startswith(f"variable {name!r}") for i in issues):
                    issues.append(
                        issue_at(
                            f"variable {name!r} is required and has no value: pass --var {name}=VALUE, "
                            f"put it in a --var-file, or set {ENV_PREFIX}{name}",
                            decl.mark,
                        )
                    )
                continue
            values[name] = self._checked(decl, value, "", issues)
        if issues:
            raise ConfigError(issues)
        return values

    def _file_values(
        self, path: Path, declared: dict[str, Declared], issues: list[ConfigIssue]
    ) -> dict[str, Value]:
        if path.is_dir():
            issues.append(
                ConfigIssue("--var-file takes a file (a YAML mapping of values), not a folder", str(path))
            )
            return {}
        (file,) = [load_file(p, self.environ) for p in stack_files([path])]
        if file.data is None:
            return {}
        for line, col in file.secret_positions:
            self.evaluator.secrets.add((str(file.path), line, col))
        values = {}
        for name, raw in file.data.items():
            key_mark, mark = file.data.key_marks[name], file.data.value_marks[name]
            if name not in declared:
                issues.append(issue_at(_no_such(str(name), declared, "the stack"), key_mark))
                continue
            value = self.evaluator.value(raw, mark, Scope(None))
            sensitive = holds_secret(mark, value, frozenset(self.evaluator.secrets))
            values[name] = Value(value, f"--var-file {path}", mark, sensitive)
        return values

    def _text_value(self, decl: Declared, text: str, source: str, issues: list[ConfigIssue]) -> Value | None:
        try:
            return Value(from_text(text, decl.spec), source)
        except ValueError as exc:
            issues.append(
                issue_at(
                    f"variable {decl.name!r} (declared at {decl.where}): {exc}, from {source}", decl.mark
                )
            )
            return None

    def _default(self, decl: Declared, context: str, issues: list[ConfigIssue]) -> Value | None:
        if decl.spec.required:
            return None
        mark = decl.default_mark or decl.mark
        value = self.evaluator.value(decl.default, mark, Scope(None, None, context))
        return Value(value, f"its default at {mark.file}:{mark.line}:{mark.column}", mark)

    def _checked(self, decl: Declared, value: Value, context: str, issues: list[ConfigIssue]) -> Value:
        value = Value(value.value, value.source, value.mark, value.sensitive or decl.spec.sensitive)
        problem = decl.spec.problem(value.value, value.sensitive)
        if problem is not None:
            issues.append(
                issue_at(
                    in_context(
                        f"variable {decl.name!r} (declared at {decl.where}): {problem} "
                        f"(value from {value.source})",
                        context,
                    ),
                    value.mark or decl.mark,
                )
            )
        return value

    def module_values(
        self, address: str, declared: dict[str, Declared], body: MarkedDict, caller: Scope, context: str
    ) -> dict[str, Value]:
        """A module call's values (``vars:``, evaluated in the caller's scope), then defaults."""
        issues: list[ConfigIssue] = []
        given = body.get("vars")
        values: dict[str, Value] = {}
        if isinstance(given, MarkedDict):
            for var, raw in given.items():
                mark = given.value_marks[var]
                if var not in declared:
                    issues.append(
                        issue_at(
                            in_context(
                                f"{address}: {_no_such(str(var), declared, 'the module')}",
                                caller.context,
                            ),
                            given.key_marks[var],
                        )
                    )
                    continue
                value = self.evaluator.value(raw, mark, caller)
                sensitive = holds_secret(mark, value, frozenset(self.evaluator.secrets))
                values[str(var)] = Value(
                    value, f"{address}'s vars at {mark.file}:{mark.line}:{mark.column}", mark, sensitive
                )
        result = {}
        for name, decl in declared.items():
            value = values.get(name) or self._default(decl, context, issues)
            if value is None:
                issues.append(
                    issue_at(
                        in_context(
                            f"{address} does not set variable {name!r}, which the module requires "
                            f"(declared at {decl.where})",
                            caller.context,
                        ),
                        body.key_marks.get("vars") or body.mark,
                    )
                )
                continue
            result[name] = self._checked(decl, value, context, issues)
        if issues:
            raise ConfigError(issues)
        return result


def _no_such(name: str, declared: Mapping[str, Declared], owner: str) -> str:
    names = ", ".join(sorted(declared)) or "none"
    return f"{owner} declares no variable {name!r} (declared: {names})"
