"""Values that pass between the stages: desired resources, live objects, references.

These are plain frozen dataclasses (with slots) rather than pydantic models because a
plan of 10,000 resources builds tens of thousands of them; pydantic validates the user's
input (``config``) and the plan JSON (``engine.deciding``), not these internal hand-offs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = ["UNKNOWN", "Desired", "LiveObject", "LiveState", "Location", "Ref", "Unknown"]


class Unknown:
    """A value only known after apply (the id of a resource not created yet)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference from one resource's field to another resource of the stack."""

    address: str  # e.g. "cores.fast-athens"

    @property
    def kind(self) -> str:
        return self.address.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.address.split(".", 1)[1]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Desired:
    """One resource as the stack declares it.

    ``attrs`` holds only the fields the user wrote (those are the managed ones); ``create_attrs``
    adds the spec's defaults, which are sent on create and then left alone. Fields that refer to
    another resource of the stack hold a :class:`Ref`.
    """

    kind: str
    name: str
    attrs: Mapping[str, Any]
    create_attrs: Mapping[str, Any]
    location: Location | None = None
    lifecycle: Any = None  # a config.lifecycle.Lifecycle, or None
    # Fields holding a value from ${env:…} (anywhere inside): shown as (sensitive), stored as digests.
    sensitive: frozenset[str] = frozenset()
    # Addresses this resource must come after although no field holds them as a Ref (a repository's
    # data source naming a ``files`` resource: each of its files is uploaded first).
    after: tuple[str, ...] = ()
    # Derived once: the planner asks for these for every resource, many times over.
    address: str = field(init=False)
    ignored: frozenset[str] = field(init=False)
    refs: tuple[str, ...] = field(init=False)  # addresses this resource refers to

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", f"{self.kind}.{self.name}")
        ignored = frozenset(self.lifecycle.ignore_changes) if self.lifecycle else frozenset()
        object.__setattr__(self, "ignored", ignored)
        refs = tuple(
            dict.fromkeys(
                [*(v.address for v in self.create_attrs.values() if isinstance(v, Ref)), *self.after]
            )
        )
        object.__setattr__(self, "refs", refs)


class LiveObject(NamedTuple):
    """One object as an API lists it, parsed into the kind's field names.

    ``fingerprint`` is a digest of the whole raw payload (less volatile fields), used to tell
    whether the object changed between a saved plan and its apply. A named tuple (immutable)
    rather than a frozen dataclass, which costs four times as much to build, once per listed object.
    """

    kind: str
    remote_id: str
    key: tuple[str, ...]
    attrs: Mapping[str, Any]
    name: str = ""
    # The digest itself, or a zero-argument callable that computes it: hashing every listed
    # object costs a third of a refresh, and only a saved plan's few resources need it.
    fingerprint_source: str | Callable[[], str] = ""
    extra: Mapping[str, Any] = _EMPTY
    # Fields that this object cannot change in place, as the provider found out (e.g. a hub without
    # ``PUT /sequence``): field -> why. A change to one plans a replace, like ``Kind.replace_fields``.
    replace_fields: Mapping[str, str] = _EMPTY

    @property
    def fingerprint(self) -> str:
        source = self.fingerprint_source
        return source() if callable(source) else source


@dataclass
class LiveState:
    """Everything the providers listed, indexed by kind, remote id and natural key."""

    objects: dict[str, list[LiveObject]] = field(default_factory=dict)
    # Remote ids that exist but are not ours to manage as resources (e.g. Signaloid's default cores),
    # kept so that a reference to them can be checked.
    external_ids: dict[str, set[str]] = field(default_factory=dict)
    # Told of each page of objects as it comes in (``extend``) and of each kind whose list is
    # complete (``listed``), so a plan can start while other pages are still on the way.
    on_added: Callable[[str, list[LiveObject]], None] | None = field(default=None, compare=False, repr=False)
    on_listed: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    complete: set[str] = field(default_factory=set, compare=False)

    def add(self, obj: LiveObject) -> None:
        self.objects.setdefault(obj.kind, []).append(obj)

    def extend(self, kind: str, objects: list[LiveObject]) -> None:
        """Add a page of ``kind``'s objects, and say so to ``on_added``."""
        self.objects.setdefault(kind, []).extend(objects)
        if self.on_added is not None and objects:
            self.on_added(kind, objects)

    def listed(self, kind: str) -> None:
        """Every object of ``kind`` (and any ``external_ids`` of it) is in: nothing more will come."""
        if kind in self.complete:
            return
        self.complete.add(kind)
        if self.on_listed is not None:
            self.on_listed(kind)

    def by_id(self, kind: str) -> dict[str, LiveObject]:
        return {o.remote_id: o for o in self.objects.get(kind, [])}

    def by_key(self, kind: str) -> dict[tuple[str, ...], list[LiveObject]]:
        index: dict[tuple[str, ...], list[LiveObject]] = {}
        for o in self.objects.get(kind, []):
            index.setdefault(o.key, []).append(o)
        return index
