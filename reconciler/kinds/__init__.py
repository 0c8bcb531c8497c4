"""The resource kinds, in the order they appear in the stack and in plans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from reconciler.kinds import cores, files, package_instances, repositories, sequences, webhooks, workspaces
from reconciler.kinds.base import Kind, Reference, SpecModel

KINDS: tuple[Kind, ...] = (
    cores.KIND,
    files.KIND,  # before repositories, which may read them (DataSources)
    repositories.KIND,
    webhooks.KIND,
    sequences.KIND,
    workspaces.KIND,
    package_instances.KIND,
)
KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}


@dataclass(frozen=True, eq=False)
class KindRegistry:
    """The kinds a run knows, in the order they appear in stacks and plans: handed to the planner
    as a parameter (``REGISTRY`` is the shipped one), so deciding reads no module global and a
    test can plan with a kind of its own."""

    kinds: tuple[Kind, ...]
    by_name: Mapping[str, Kind] = field(init=False)
    order: Mapping[str, int] = field(init=False)  # name -> position, for plan order

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {k.name: k for k in self.kinds})
        object.__setattr__(self, "order", {k.name: i for i, k in enumerate(self.kinds)})

    def __iter__(self) -> Iterator[Kind]:
        return iter(self.kinds)

    def __getitem__(self, name: str) -> Kind:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name


REGISTRY = KindRegistry(KINDS)


__all__ = ["KINDS", "KINDS_BY_NAME", "REGISTRY", "Kind", "KindRegistry", "Reference", "SpecModel"]
