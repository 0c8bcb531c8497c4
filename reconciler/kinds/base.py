"""How a resource kind is declared: one :class:`Kind` value holds everything the engine needs.

A kind module (``kinds/cores.py`` …) defines its pydantic spec and one ``Kind``: the natural
key that finds the live object without state, which fields force a replacement (and why),
which are secret, how values are normalised before comparing, and which fields refer to
other resources. The engine reads only this; the wire format lives in the provider.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Kind", "Reference", "SpecModel"]


class SpecModel(BaseModel):
    """Base of every user-facing spec: frozen, unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Reference:
    """A field that names another resource.

    The value is either the logical name of a resource of kind ``kind`` in the stack, or a
    literal that stands for an object outside the stack: a remote id matching ``literal``
    (e.g. a default core ``cor_…``), or, when ``resolves_to == "name"``, any existing name.
    ``resolves_to`` says what the field holds on the API: the target's remote id (known only
    after the target exists) or its logical name (known at once).
    """

    kind: str
    literal: re.Pattern[str] | None = None
    resolves_to: Literal["remote_id", "name"] = "remote_id"

    def is_literal(self, value: str) -> bool:
        if self.resolves_to == "name":
            return True
        return bool(self.literal and self.literal.fullmatch(value))


@dataclass(frozen=True)
class Kind:
    name: str  # the section in the stack, e.g. "cores"
    provider: str  # "signaloid" | "scramjet" | "steamship"
    spec: type[SpecModel]
    summary: str
    # Natural key: computed from (logical name, attrs) for desired resources; providers compute the
    # same tuple for live objects. Documented per kind.
    natural_key: Callable[[str, Mapping[str, Any]], tuple[str, ...]]
    key_doc: str
    replace_fields: Mapping[str, str] = field(default_factory=dict)  # field -> why it forces replacement
    sensitive_fields: frozenset[str] = frozenset()
    normalisers: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    references: Mapping[str, Reference] = field(default_factory=dict)
    # A kind whose logical name is its name on the API (cores): renaming is delete + create.
    name_is_remote: bool = False
    # Whether an old and a new object can exist side by side during a replace
    # (lifecycle.create_before_destroy); when not, why not.
    create_before_destroy: bool = False
    no_create_before_destroy_reason: str = "its natural key must be unique on the API"

    def normalise(self, field_name: str, value: Any) -> Any:
        fn = self.normalisers.get(field_name)
        if fn is None or value is None:
            return value
        return fn(value)

    def forces_replacement(self, field_name: str) -> str | None:
        return self.replace_fields.get(field_name)
