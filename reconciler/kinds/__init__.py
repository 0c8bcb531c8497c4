"""The resource kinds, in the order they appear in the stack and in plans."""

from __future__ import annotations

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


def get_kind(name: str) -> Kind:
    return KINDS_BY_NAME[name]


__all__ = ["KINDS", "KINDS_BY_NAME", "Kind", "Reference", "SpecModel", "get_kind"]
