"""The package catalogue shipped by the Steamship emulator, and config validation.

Examples and tests rely on these packages existing in every sandbox:

- ``hello-world`` 1.0.0, 1.1.0: no configuration.
- ``summarize-text`` 1.0.0, 1.2.0: ``model`` (string, required), ``max_words`` (number, default 100).
- ``broken-init`` 1.0.0: no configuration; its init always fails, so a failed init can be exercised.

Config templates use the engine's manifest format (``steamship.data.manifest.ConfigParameter``):
``{name: {"type": "string" | "number" | "boolean", "description": ..., "default": ...}}``. A parameter
without a default is required, as in the official client's ``cli/create_instance.py``.

Validation mirrors what the reconciler must normalise against: values are coerced the way a lenient
engine decodes them (``"200"`` for a number is stored as ``200``; ``"true"`` for a boolean as ``true``;
nothing is coerced *to* a string), ``null`` counts as absent, and omitted optional parameters are
stored with their template default filled in.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATALOGUE",
    "INVALID_CONFIG_MESSAGE",
    "ConfigInvalid",
    "Package",
    "PackageVersion",
    "find_package",
    "validate_config",
]

INVALID_CONFIG_MESSAGE = "Configuration for this PackageInstance is invalid."

# Ids are derived from names so they are identical in every sandbox and across restarts.
_ID_NAMESPACE = uuid.UUID("5b0f5c1e-7d4a-4e43-9a55-2f1d0c6f3e21")


def stable_id(*parts: str) -> str:
    """An engine-style id (upper-case UUID) that is the same for the same ``parts``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts))).upper()


PUBLISHER_ID = stable_id("user", "steamship-packages")

_SUMMARIZE_TEMPLATE: dict[str, dict[str, Any]] = {
    "model": {"type": "string", "description": "Name of the language model to summarise with."},
    "max_words": {"type": "number", "description": "Upper bound on the summary length.", "default": 100},
}


@dataclass(frozen=True)
class PackageVersion:
    package_handle: str
    handle: str
    config_template: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    init_failure: str | None = None
    """When set, every instance's init ends ``failed`` and this is its status message."""

    @property
    def id(self) -> str:
        return stable_id("package-version", self.package_handle, self.handle)


@dataclass(frozen=True)
class Package:
    handle: str
    description: str
    versions: tuple[PackageVersion, ...]
    """Oldest first; the last one is the latest deployed version."""

    @property
    def id(self) -> str:
        return stable_id("package", self.handle)

    @property
    def latest(self) -> PackageVersion:
        return self.versions[-1]

    def version(self, handle: str) -> PackageVersion | None:
        return next((v for v in self.versions if v.handle == handle), None)

    def version_by_id(self, version_id: str) -> PackageVersion | None:
        return next((v for v in self.versions if v.id == version_id), None)

    def to_wire(self) -> dict[str, Any]:
        """The ``package/get`` shape; ``profile`` is the manifest of the latest version."""
        latest = self.latest
        return {
            "id": self.id,
            "handle": self.handle,
            "userId": PUBLISHER_ID,
            "description": self.description,
            "readme": f"# {self.handle}\n\n{self.description}\n",
            "isPublic": True,
            "profile": {
                "type": "package",
                "handle": self.handle,
                "version": latest.handle,
                "description": self.description,
                "author": "Steamship sandbox",
                "entrypoint": "Unused",
                "public": True,
                "build_config": {"ignore": []},
                "configTemplate": {name: dict(spec) for name, spec in latest.config_template.items()},
                "steamshipRegistry": {"tags": ["sandbox"]},
            },
        }


def _package(handle: str, description: str, versions: list[str], **version_kwargs: Any) -> Package:
    return Package(
        handle=handle,
        description=description,
        versions=tuple(PackageVersion(handle, v, **version_kwargs) for v in versions),
    )


CATALOGUE: dict[str, Package] = {
    p.handle: p
    for p in (
        _package("hello-world", "Says hello. Takes no configuration.", ["1.0.0", "1.1.0"]),
        _package(
            "summarize-text",
            "Summarises text with a language model.",
            ["1.0.0", "1.2.0"],
            config_template=_SUMMARIZE_TEMPLATE,
        ),
        _package(
            "broken-init",
            "A package whose instance initialisation always fails (for testing failure handling).",
            ["1.0.0"],
            init_failure="Package instance initialization failed: broken-init raised an error in its "
            "init handler.",
        ),
    )
}


def find_package(handle: str | None = None, package_id: str | None = None) -> Package | None:
    if package_id is not None:
        return next((p for p in CATALOGUE.values() if p.id == package_id), None)
    return CATALOGUE.get(handle or "")


class ConfigInvalid(ValueError):
    """Raised with every problem found, so one error tells the user all that is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        details = "; ".join(problems)
        super().__init__(f"{INVALID_CONFIG_MESSAGE} {details[:1].upper()}{details[1:]}.")


def _coerce(name: str, kind: str, value: Any) -> tuple[Any, str | None]:
    """Return ``(stored value, problem)``; exactly one of them is meaningful."""
    wrong = f'parameter "{name}" must be a {kind}, got {type(value).__name__} {value!r}'
    if kind == "string":
        return (value, None) if isinstance(value, str) else (None, wrong)
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
        return None, wrong
    if kind == "number":
        if isinstance(value, bool):  # bool is an int in Python, never a number in JSON
            return None, wrong
        if isinstance(value, int | float):
            return value, None if math.isfinite(value) else wrong
        if isinstance(value, str):
            number: int | float
            try:
                number = int(value)
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    return None, wrong
            return (number, None) if math.isfinite(number) else (None, wrong)
        return None, wrong
    return None, f'parameter "{name}" has an unsupported type "{kind}" in the config template'


def validate_config(template: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any] | None) -> dict:
    """Check ``config`` against ``template``; return the config as the engine stores it."""
    given = {k: v for k, v in (config or {}).items() if v is not None}
    problems: list[str] = []
    stored: dict[str, Any] = {}
    for name in sorted(set(given) - set(template)):
        expected = ", ".join(sorted(template)) if template else None
        hint = f"expected one of: {expected}" if expected else "this package takes no configuration"
        problems.append(f'unknown parameter "{name}" ({hint})')
    for name, spec in template.items():
        kind = str(spec.get("type", "string"))
        if name in given:
            value, problem = _coerce(name, kind, given[name])
            if problem:
                problems.append(problem)
            else:
                stored[name] = value
        elif spec.get("default") is not None:
            stored[name] = spec["default"]
        else:
            problems.append(f'missing required parameter "{name}" ({kind})')
    if problems:
        raise ConfigInvalid(problems)
    return stored
