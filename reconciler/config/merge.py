"""Merge the files of one stack (or module) into one document, section by section."""

from __future__ import annotations

from reconciler.config.loader import LoadedFile, MarkedDict
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS_BY_NAME

__all__ = ["merge_files"]

# Sections whose entries may be spread over the files; any other section is written once.
_MERGED_SECTIONS = {"providers", "variables", "modules", *KINDS_BY_NAME}


def merge_files(files: list[LoadedFile]) -> MarkedDict:
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
