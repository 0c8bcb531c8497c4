"""Load a stack: many YAML files → one validated Stack → Desired resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.loader import LoadedFile, MarkedDict, load_file, stack_files
from reconciler.config.refs import desired_resources
from reconciler.config.stack import stack_model, validate_stack
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS_BY_NAME
from reconciler.values import Desired

__all__ = ["LoadedStack", "load_stack", "stack_model"]

_MERGED_SECTIONS = {"providers", *KINDS_BY_NAME}


@dataclass(frozen=True)
class LoadedStack:
    stack: Any  # a Stack instance
    resources: list[Desired]
    files: list[Path]
    root: Path  # where .reconciler/ lives: the first -f directory, or the first file's folder
    # value -> NAME of each ${env:NAME} used (sensitive values; ``export`` writes the reference back)
    secret_values: Mapping[str, str] = field(default_factory=dict)


def stack_root(paths: list[Path]) -> Path:
    first = paths[0] if paths else Path(".")
    return first if first.is_dir() else first.parent


def load_stack(paths: list[Path], environ: Mapping[str, str] | None = None) -> LoadedStack:
    files = [load_file(p, environ) for p in stack_files(paths)]
    merged = _merge(files)
    stack = validate_stack(merged, files)
    secrets = frozenset((str(f.path), line, col) for f in files for (line, col) in f.secret_positions)
    resources = desired_resources(stack, merged, secrets)
    secret_values = {value: name for f in files for value, name in f.secret_values.items()}
    return LoadedStack(stack, resources, [f.path for f in files], stack_root(paths), secret_values)


def _merge(files: list[LoadedFile]) -> MarkedDict:
    """Merge files section by section; a name defined twice (in any files) is an error."""
    merged = MarkedDict()
    merged.mark = None  # type: ignore[assignment]
    merged.key_marks, merged.value_marks = {}, {}
    issues: list[ConfigIssue] = []
    for f in files:
        if f.data is None:
            issues.append(
                ConfigIssue("the file is empty; a stack file starts with `version: 1`", file=str(f.path))
            )
            continue
        data = f.data
        if "version" not in data:
            issues.append(
                ConfigIssue("missing `version: 1` at the top of the file", file=str(f.path), line=1)
            )
        if merged.mark is None:
            merged.mark = data.mark
        for key, value in data.items():
            if (
                key in merged
                and key in _MERGED_SECTIONS
                and isinstance(value, MarkedDict)
                and isinstance(merged[key], MarkedDict)
            ):
                section = merged[key]
                for name, body in value.items():
                    if name in section:
                        first = section.key_marks[name]
                        here = value.key_marks[name]
                        issues.append(
                            ConfigIssue(
                                f"{key}.{name} is defined twice (first at {first.file}:{first.line})",
                                file=here.file,
                                line=here.line,
                                column=here.column,
                                field=f"{key}.{name}",
                            )
                        )
                        continue
                    section[name] = body
                    section.key_marks[name] = value.key_marks[name]
                    section.value_marks[name] = value.value_marks[name]
            elif key in merged and key != "version":
                first, here = merged.key_marks[key], data.key_marks[key]
                issues.append(
                    ConfigIssue(
                        f"section {key!r} is defined twice (first at {first.file}:{first.line})",
                        file=here.file,
                        line=here.line,
                        column=here.column,
                        field=str(key),
                    )
                )
            elif key == "version" and key in merged:
                if value != merged[key] or type(value) is not type(merged[key]):  # true == 1 in Python
                    here = data.key_marks[key]
                    issues.append(
                        ConfigIssue(
                            "all stack files must have the same version",
                            file=here.file,
                            line=here.line,
                            field="version",
                        )
                    )
            else:
                if isinstance(value, MarkedDict) and key in _MERGED_SECTIONS:
                    copy = MarkedDict(value)
                    copy.mark, copy.key_marks, copy.value_marks = (
                        value.mark,
                        dict(value.key_marks),
                        dict(value.value_marks),
                    )
                    value = copy
                merged[key] = value
                merged.key_marks[key] = data.key_marks[key]
                merged.value_marks[key] = data.value_marks[key]
    if issues:
        raise ConfigError(issues)
    if not files:
        raise ConfigError(ConfigIssue("no stack files given"))
    return merged
