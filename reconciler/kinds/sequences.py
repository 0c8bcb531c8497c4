"""Scramjet sequences: a package uploaded to a hub, and the instances that should run from it.

The logical name is the sequence's name, which a hub takes from package.json ``name``: the two
must be equal. The package (a directory, packed by us, or a ready .tar.gz) is read at load time,
so ``validate`` catches package problems offline and the Desired attrs carry ``package_digest``
and ``package_version``. A hub does not report a package digest: it lives in state
(``state_fields``); with no state, a changed package is seen through its package.json version.
Instances are compared as a multiset of (args, app_config).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from reconciler.kinds.base import DeriveError, Kind, LoadContext, SpecModel
from reconciler.kinds.fields import NonEmptyStr
from reconciler.packages.tree import TreeProblem, inside

__all__ = ["KIND", "InstanceSpec", "SequenceSpec", "canonical_instances", "instance_key"]


class InstanceSpec(SpecModel):
    """One instance that should run: the arguments and appConfig it is started with."""

    args: list[Any] = Field(default_factory=list, description="arguments passed to the sequence")
    app_config: dict[str, Any] = Field(default_factory=dict, description="the instance's appConfig")


class SequenceSpec(SpecModel):
    """A Scramjet sequence. The logical name must equal the package.json ``name``."""

    hub: NonEmptyStr = Field(description="a hub named in providers.scramjet.hubs")
    package: NonEmptyStr = Field(
        description="a directory (packed by reconciler) or a .tar.gz, relative to this stack file's folder"
    )
    instances: list[InstanceSpec] = Field(
        default_factory=list,
        description="instances that should run from it; left out, running instances are not managed",
    )


def instance_key(item: Mapping[str, Any]) -> str:
    """One instance's identity: its args and appConfig, as canonical JSON."""
    return json.dumps(
        [item.get("args") or [], item.get("app_config") or {}], sort_keys=True, separators=(",", ":")
    )


def canonical_instances(value: Any) -> Any:
    """A multiset of instances in one canonical order, defaults filled in."""
    if not isinstance(value, list | tuple):
        return value
    items = [
        {"args": list(i.get("args") or []), "app_config": dict(i.get("app_config") or {})}
        for i in value
        if isinstance(i, Mapping)
    ]
    return sorted(items, key=instance_key)


def _derive(name: str, attrs: Mapping[str, Any], ctx: LoadContext) -> dict[str, Any]:
    hubs = ctx.providers.scramjet.hubs
    if attrs["hub"] not in hubs:
        declared = ", ".join(sorted(hubs)) or "none are declared"
        raise DeriveError(f"unknown hub {attrs['hub']!r} (providers.scramjet.hubs: {declared})", "hub")
    try:
        path = inside(ctx.base_dir, attrs["package"])
    except TreeProblem as exc:
        raise DeriveError(f"package {exc}", "package") from None
    from reconciler.packages.pack import PackageError, load_package  # tarfile, pathspec: only for sequences

    try:
        package = load_package(path)
    except PackageError as exc:
        raise DeriveError(str(exc), "package") from None
    if package.name != name:
        where = f"{path / 'package.json'}:{package.name_line}" if package.name_line else f"{path}"
        raise DeriveError(
            f"the sequence is declared as {name!r} but its package.json name is {package.name!r} "
            f"({where}); a hub names a sequence by package.json, so the two must be equal"
        )
    return {
        "package_path": str(path),
        "package_digest": package.digest,
        "package_version": package.version,
    }


def _key(name: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    return (str(attrs.get("hub") or ""), name)


KIND = Kind(
    name="sequences",
    provider="scramjet",
    spec=SequenceSpec,
    summary="Scramjet sequences (a package on a hub) and the instances running from them",
    natural_key=_key,
    key_doc="(hub, sequence name): the package.json name on that hub",
    replace_fields={"hub": "a sequence lives on one hub; moving it means uploading it to the other"},
    normalisers={"instances": canonical_instances},
    state_fields=frozenset({"package_digest"}),
    local_fields=frozenset({"package", "package_path"}),
    derive=_derive,
    not_exportable="a sequence is declared with its package (a local directory or .tar.gz), and a hub "
    "does not give packages back; declare it with `package:` and `plan` finds it on its hub by name",
)
