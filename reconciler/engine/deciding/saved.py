"""Saved plans: ``plan --out FILE`` and ``apply FILE``, bound to what was reviewed.

A saved plan is the plan JSON (``Plan.to_json()``, unchanged, so every renderer can read it)
with one more top-level section, ``saved_plan``::

    "saved_plan": {
      "format_version": "1",
      "created_at": "2026-01-01T12:00:00Z",
      "reconciler_version": "0.1.0",
      "sandbox": false,
      "files": [{"path": "stack.yaml", "sha256": "…"}],
      "bindings": {
        "cores.fast-athens": {"kind": "cores", "remote_id": "cor_…",
                              "live_fingerprint": "…" | null,     # null: nothing live (a create)
                              "desired_digest": "sha256:…" | null}  # null: not declared (a delete)
      }
    }

On apply, :func:`check` compares a freshly computed plan (of the kinds the saved one touches)
against the saved one, address by address, and :func:`restrict` keeps exactly the reviewed
changes. Nothing here does I/O but reading and writing the file; nothing is re-planned silently.
Secrets: the plan JSON already shows sensitive values as ``(sensitive, changed)``; fingerprints
and digests are hashes, and the file holds no credential.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from reconciler.common.paths import PathProblem, read_capped, write_atomic
from reconciler.config.loader import MAX_FILE_BYTES
from reconciler.engine.deciding.changes import Action, Change, Plan, upgrade_plan_json
from reconciler.errors import PlanError
from reconciler.kinds import REGISTRY, KindRegistry
from reconciler.state.base import StateSnapshot, digest
from reconciler.values import Desired, LiveState

MAX_PLAN_BYTES = 256 * 2**20  # a saved plan is read whole: a FIFO or /dev/zero is refused unread

__all__ = ["SAVED_FORMAT_VERSION", "SavedPlan", "StalePlan", "check", "dump", "load", "restrict"]

SAVED_FORMAT_VERSION = "1"
# What must be the same in the saved and the recomputed change for the plan to be still valid.
_COMPARED = ("action", "adopt", "remote_id", "fields", "refused", "moved_from", "replace_order")


class StalePlan(PlanError):
    """The live state or the configuration changed since the plan was saved."""


def _reconciler_version() -> str:
    try:
        return version("reconciler-iac")  # the distribution; the import package is reconciler
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(read_capped(path, MAX_FILE_BYTES)).hexdigest()


def dump(
    the_plan: Plan, files: Iterable[Path], *, sandbox: bool, now: datetime | None = None
) -> dict[str, Any]:
    """The saved-plan document for ``the_plan`` (made from the stack ``files``)."""
    doc = the_plan.to_json()
    bindings = {}
    for change in the_plan.changes:
        bindings[change.address] = {
            "kind": change.kind,
            "remote_id": change.remote_id,
            "live_fingerprint": change.live.fingerprint if change.live is not None else None,
            "desired_digest": digest(change.desired.attrs) if change.desired is not None else None,
        }
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["saved_plan"] = {
        "format_version": SAVED_FORMAT_VERSION,
        "created_at": stamp,
        "reconciler_version": _reconciler_version(),
        "sandbox": sandbox,
        "files": [{"path": str(p), "sha256": _file_digest(p)} for p in files],
        "bindings": bindings,
    }
    return doc


def write(doc: Mapping[str, Any], path: Path) -> None:
    """Write atomically (a half-written plan file must never be applied)."""
    try:
        write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise PlanError(f"cannot write the plan file {path}: {exc}") from exc


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    doc: Mapping[str, Any]

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.doc["saved_plan"]

    @property
    def changes(self) -> dict[str, Mapping[str, Any]]:
        return {c["address"]: c for c in self.doc["changes"]}

    def pending(self) -> dict[str, Mapping[str, Any]]:
        """The reviewed actions: every change the plan marks ``pending``."""
        return {a: c for a, c in self.changes.items() if c["pending"]}

    def kinds(self, registry: KindRegistry = REGISTRY) -> set[str]:
        """The kinds to re-read: those the plan touches, and those they refer to or come after."""
        found: set[str] = set()
        todo = [c["kind"] for c in self.pending().values()]
        while todo:
            kind = todo.pop()
            if kind in found or kind not in registry:
                continue
            found.add(kind)
            todo.extend(ref.kind for ref in registry[kind].references.values())
            todo.extend(registry[kind].orders_after)
        return found


def _how_to_save() -> str:
    """How to make a saved plan, naming a file that does not exist here: following the advice must
    not overwrite the file that was given (``plan.json`` holding something else) or any other."""
    names = ("plan.json", "saved-plan.json", *(f"saved-plan-{n}.json" for n in range(2, 100)))
    name = next((n for n in names if not os.path.lexists(n)), "saved-plan.json")
    return f"; make one with `reconciler plan -f STACK --out {name}`, then `reconciler apply -f STACK {name}`"


def load(path: Path) -> SavedPlan:
    try:
        doc = json.loads(read_capped(path, MAX_PLAN_BYTES).decode("utf-8"))
    except PathProblem as exc:
        raise PlanError(f"cannot read the plan file {path}: {exc.reason}") from exc
    except ValueError as exc:
        raise PlanError(f"{path} is not a saved plan (not JSON: {exc}){_how_to_save()}") from exc
    except RecursionError as exc:
        raise PlanError(f"{path} is not a saved plan (values nested too deeply)") from exc
    meta = doc.get("saved_plan") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or not isinstance(doc.get("changes"), list):
        raise PlanError(f"{path} is not a saved plan (it is kept as it is){_how_to_save()}")
    if meta.get("format_version") != SAVED_FORMAT_VERSION:
        raise PlanError(
            f"{path}: unsupported saved plan format {meta.get('format_version')!r} "
            f"(this reconciler reads version {SAVED_FORMAT_VERSION}); run plan again"
        )
    if not isinstance(meta.get("bindings"), dict):
        raise PlanError(f"{path} is not a saved plan (no bindings section)")
    doc = upgrade_plan_json(doc, str(path))  # a plan saved by the previous version: its actions made explicit
    actions = {a.value for a in Action}
    for change in doc["changes"]:
        if not (
            isinstance(change, dict)
            and isinstance(change.get("address"), str)
            and change.get("action") in actions
            and isinstance(change.get("pending"), bool)
        ):
            raise PlanError(f"{path} is not a saved plan (a change without an address, action or pending)")
    return SavedPlan(path, doc)


def scope(
    saved: SavedPlan, desired: list[Desired], state: StateSnapshot
) -> tuple[list[Desired], StateSnapshot]:
    """The desired resources and state entries of the kinds the saved plan touches, and only those:
    the other kinds are not re-read, so planning them would see them all as missing."""
    kinds = saved.kinds()
    entries = {a: e for a, e in state.entries.items() if e.kind in kinds}
    return [d for d in desired if d.kind in kinds], StateSnapshot(entries)


def _comparable(change: Mapping[str, Any]) -> dict[str, Any]:
    """What apply would do; a field's ``cause`` explains it and is left out (saved plans from
    before fields had one still compare)."""
    out = {k: change.get(k) for k in _COMPARED}
    out["fields"] = [{k: v for k, v in f.items() if k != "cause"} for f in out["fields"] or ()]
    return out


def check(saved: SavedPlan, now: Plan, live: LiveState, desired: list[Desired]) -> list[str]:
    """Why the saved plan no longer holds, one ``address (reason)`` per touched resource; [] if it does."""
    declared = {d.address: d for d in desired}
    recomputed = {c.address: c for c in now.changes}
    bindings = saved.meta["bindings"]
    problems: list[str] = []
    for address, change in sorted(saved.pending().items()):
        binding = bindings.get(address) or {}
        reason = _why_stale(change, binding, declared.get(address), recomputed.get(address), live)
        if reason:
            problems.append(f"{address} ({reason})")
    return problems


def _why_stale(
    saved: Mapping[str, Any],
    binding: Mapping[str, Any],
    desired: Desired | None,
    now: Change | None,
    live: LiveState,
) -> str | None:
    wanted = binding.get("desired_digest")
    if wanted is not None and desired is None:
        return "no longer in the configuration"
    if wanted is None and desired is not None:
        return "declared in the configuration since"
    if desired is not None and digest(desired.attrs) != wanted:
        return "configuration changed"
    fingerprint, remote_id = binding.get("live_fingerprint"), binding.get("remote_id")
    if fingerprint is not None and remote_id is not None:
        obj = live.by_id(saved["kind"]).get(remote_id)
        if obj is None:
            if saved["action"] == "delete" or (now is not None and not now.pending):
                return f"already deleted since the plan was made ({remote_id}); was this plan applied?"
            return f"deleted outside reconciler ({remote_id})"
        if obj.fingerprint != fingerprint:
            if now is not None and not now.pending:  # e.g. this very plan, applied a second time
                return "already as planned: changed since, and it matches the configuration now"
            return "changed outside"
    if now is None:
        return "no longer in the plan"
    if _comparable(now.to_json()) != _comparable(saved):
        if saved["action"] == "create" and now.remote_id:
            return f"created since the plan was made: {now.remote_id}"
        fields = ", ".join(f.path for f in now.fields)
        return f"would now be {now.action.value}{' of ' + fields if fields else ''}, not as reviewed"
    return None


def restrict(saved: SavedPlan, now: Plan) -> tuple[Plan, list[str]]:
    """``now`` cut down to exactly the reviewed changes, and the addresses of other pending changes
    (found since, never reviewed: not applied)."""
    reviewed = set(saved.pending())
    kept = tuple(c for c in now.changes if c.address in reviewed or not c.pending)
    others = sorted(c.address for c in now.pending() if c.address not in reviewed)
    return replace(now, changes=kept, unmanaged=(), forget=()), others


def stale_message(problems: list[str]) -> str:
    return (
        "the plan was made against live state that has changed since: "
        + "; ".join(problems)
        + ". Nothing was applied; run plan again"
    )
