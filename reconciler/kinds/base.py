"""How a resource kind is declared: one :class:`Kind` value holds everything the engine needs.

A kind module (``kinds/cores.py`` …) defines its pydantic spec and one ``Kind``: the natural
key that finds the live object without state, which fields force a replacement (and why),
which are secret, how values are normalised before comparing, and which fields refer to
other resources. The engine reads only this; the wire format lives in the provider.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from reconciler.errors import DeriveError
from reconciler.values import Desired, LiveObject, LiveState, Ref

__all__ = ["DeriveError", "Kind", "LoadContext", "Reference", "SpecModel"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class SpecModel(BaseModel):
    """Base of every user-facing spec: frozen, unknown fields are errors. Validators are built
    on first use (``defer_build``): a command builds those of the kinds its stack uses only."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite_numbers_only(cls, value: Any) -> Any:
        """``.nan`` and ``.inf`` have no JSON form: sent to an API they would become ``null``."""
        where = _non_finite(value)
        if where is not None:
            raise ValueError(
                f"{where or 'the value'} is .nan or .inf, which no API accepts (JSON has no such number)"
            )
        return value


_PLAIN = frozenset({str, int, bool, type(None)})


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of a NaN or infinite float inside ``value`` ("" for the value itself), or None."""
    kind = type(value)
    if kind in _PLAIN:  # most fields: asked for every field of every resource, so asked first
        return None
    if kind is float or isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_finite(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Reference:
    """A field that names another resource.

    The value is either the logical name of a resource of kind ``kind`` in the stack, or a
    literal that stands for an object outside the stack: a remote id matching ``literal``
    (e.g. a default core ``cor_…``), or, when ``resolves_to == "name"``, any existing name (that
    matches ``literal``, if given: the API's rule for names).
    ``resolves_to`` says what the field holds on the API: the target's remote id (known only
    after the target exists) or its logical name (known at once).
    """

    kind: str
    literal: re.Pattern[str] | None = None
    resolves_to: Literal["remote_id", "name"] = "remote_id"

    def is_literal(self, value: str) -> bool:
        if self.resolves_to == "name" and self.literal is None:
            return True
        return bool(self.literal and self.literal.fullmatch(value))


@dataclass(frozen=True)
class LoadContext:
    """What a kind's ``derive`` hook may read besides the resource's own fields."""

    base_dir: Path  # folder of the stack file declaring the resource: relative paths start (and stay) here
    providers: Any  # the stack's validated ``providers:`` settings
    # One per stack load, shared by every resource's hooks: for limits across the stack (the bytes
    # of all ``files``).
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    name: str  # the section in the stack, e.g. "cores"
    provider: str  # "signaloid" | "scramjet" | "steamship"
    spec: type[SpecModel]
    summary: str
    # Natural key: computed from (name, attrs), the logical name and fields for a desired resource,
    # the name on the API and parsed fields for a live one (``Kind.live``). The one place a key is
    # computed; documented per kind.
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
    # Fields the API cannot report (e.g. a sequence's package digest). Apply records their value in
    # ``StateEntry.state_fields``; plan compares the desired value with that record, and does not compare
    # the field at all when there is none (state lost, an adopted object).
    state_fields: frozenset[str] = frozenset()
    # Inputs read on our side only (e.g. a package path): never compared with the live object. What
    # they stand for is compared through derived fields (``derive``) or ``state_fields``.
    local_fields: frozenset[str] = frozenset()
    # Fields computed at load time from the user's fields and local files (e.g. a package digest and
    # version), merged into the Desired attrs and create_attrs, so ``validate`` checks them offline.
    # Raise DeriveError for a problem; it is reported at the resource's file:line.
    derive: Callable[[str, Mapping[str, Any], LoadContext], Mapping[str, Any]] | None = None
    # Mapping fields where only the keys the user wrote are managed (the API adds its own, e.g.
    # defaults); ``null`` there means the empty mapping.
    partial_mappings: frozenset[str] = frozenset()
    # Why ``export`` cannot write this kind from live objects (e.g. a sequence needs its package);
    # None: exportable.
    not_exportable: str | None = None
    # What deleting a live object would take with it that the stack does not manage, as one
    # description each: (object, live state, managed (kind, remote id) pairs) -> blockers. The plan
    # refuses such a delete (or replace) unless the user opts in for that address.
    delete_guard: Callable[[LiveObject, LiveState, frozenset[tuple[str, str]]], list[str]] | None = None
    # Why a live object cannot work as it is (e.g. its initialisation failed), or None. Such an
    # object is replaced even when its fields match the configuration.
    tainted: Callable[[LiveObject], str | None] | None = None
    # A stricter rule for logical names, when the name is the API's own (a Steamship handle), so
    # ``validate`` refuses what the API would: (regex, what it allows, in words).
    name_rule: tuple[str, str] | None = None
    # A resource declared once that stands for several objects (a folder of files): (name, attrs
    # with derived fields, context) -> (member, attrs) of each, planned as ``<name>/<member>``.
    # Raise DeriveError for a problem. Members come and go with the local files.
    expand: Callable[[str, Mapping[str, Any], LoadContext], list[tuple[str, dict[str, Any]]]] | None = None
    # Which unmanaged live objects of this kind a plan lists: given the declared resources of the
    # kind, a predicate (e.g. files under a declared storage path, not every file of the account).
    # None: every object nobody manages.
    unmanaged_scope: Callable[[list[Desired]], Callable[[LiveObject], bool]] | None = None
    # Whether a stack that neither declares nor owns this kind still lists it, for the unmanaged
    # inventory. False for cloud-storage files: their listing is the whole account's storage, and
    # ``unmanaged_scope`` would show none of it.
    inventory: bool = True
    # Resources of the stack this one comes after without a field holding a Ref (a repository's data
    # source naming a ``files`` resource): spec -> (kind, name, field path) of each
    # (``Desired.after``). ``orders_after`` names those kinds, which the planner plans first.
    comes_after: Callable[[Any], list[tuple[str, str, str]]] | None = None
    orders_after: tuple[str, ...] = ()

    def live(
        self,
        remote_id: str,
        attrs: Mapping[str, Any],
        name: str | None = None,
        fingerprint_source: str | Callable[[], str] = "",
        extra: Mapping[str, Any] | None = None,
        replace_fields: Mapping[str, str] | None = None,
    ) -> LiveObject:
        """A listed object of this kind, its natural key computed by ``natural_key``, as for the
        desired resource it may match. ``name`` is the object's name on the API; None for a kind
        without one (webhooks, repositories): its key, joined by ``@``, stands for it."""
        key = tuple(self.natural_key(name or "", attrs))
        return LiveObject(
            self.name,
            remote_id,
            key,
            attrs,
            "@".join(key) if name is None else name,
            fingerprint_source,
            _EMPTY if extra is None else extra,
            _EMPTY if replace_fields is None else replace_fields,
        )

    def resolve_refs(self, attrs: Mapping[str, Any], remote_id: Callable[[Ref], Any]) -> dict[str, Any]:
        """``attrs`` with each :class:`Ref` replaced by what the API takes: the target's name, or
        ``remote_id(ref)`` (the planner's: known or UNKNOWN; apply's: the id just created)."""
        out = dict(attrs)
        for field_name, rule in self.references.items():
            value = out.get(field_name)
            if isinstance(value, Ref):
                out[field_name] = value.name if rule.resolves_to == "name" else remote_id(value)
        return out

    def normalise(self, field_name: str, value: Any) -> Any:
        fn = self.normalisers.get(field_name)
        if fn is None or value is None:
            return value
        return fn(value)

    def forces_replacement(self, field_name: str) -> str | None:
        return self.replace_fields.get(field_name)
