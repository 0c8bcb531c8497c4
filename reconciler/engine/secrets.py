"""Values from ``${env:…}`` are sensitive by default: what leaves the engine holds none of them.

Plans mask the fields that hold one (``Desired.sensitive``, in ``diff.py`` and ``plan.py``); here:
the natural key recorded in state (a webhook URL with a token) keeps a digest of the parts that
hold a secret, and ``export`` writes ``${env:NAME}`` back where a live value holds one, so an
exported stack loads with the same variables and shows no secret. ``${env:NAME:plain}`` in the
YAML marks a value that is no secret (config/loader.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.kinds import Kind
from reconciler.values import Desired

__all__ = ["MIN_SUBSTRING", "stored_key", "with_env_references"]

# A secret shorter than this is written back only where a whole value equals it: replacing every
# "1" inside longer strings would garble them.
MIN_SUBSTRING = 6


def _secrets_of(desired: Desired) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for name in desired.sensitive:
        walk(desired.create_attrs.get(name))
    return found


def stored_key(desired: Desired, kind: Kind) -> tuple[str, ...]:
    """The natural key as state records it (``kind``: the desired resource's): a part holding a
    sensitive value as its digest."""
    key = tuple(kind.natural_key(desired.name, desired.create_attrs))
    if not desired.sensitive:
        return key
    secrets = _secrets_of(desired)
    return tuple(
        "sha256:" + hashlib.sha256(part.encode()).hexdigest()
        if any(s == part or (len(s) >= MIN_SUBSTRING and s in part) for s in secrets)
        else part
        for part in key
    )


def with_env_references(value: Any, secret_values: Mapping[str, str]) -> Any:
    """``value`` with every secret from the stack replaced by its ``${env:NAME}`` reference."""
    if not secret_values:
        return value
    if isinstance(value, str):
        if value in secret_values:
            return f"${{env:{secret_values[value]}}}"
        for secret, name in sorted(secret_values.items(), key=lambda item: -len(item[0])):
            if len(secret) >= MIN_SUBSTRING and secret in value:
                value = value.replace(secret, f"${{env:{name}}}")
        return value
    if isinstance(value, Mapping):
        return {k: with_env_references(v, secret_values) for k, v in value.items()}
    if isinstance(value, list):
        return [with_env_references(v, secret_values) for v in value]
    return value
