"""Loading the plan cases (tests/plan_cases/*.yaml) into the planner's inputs; the format is
described in tests/unit/engine/test_plan_cases.py, the runner that checks every case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from reconciler.config import load_stack
from reconciler.engine.deciding.causes import field_digests
from reconciler.engine.deciding.plan import Plan, plan
from reconciler.kinds import KINDS_BY_NAME
from reconciler.state.base import StateEntry, StateSnapshot, digest
from reconciler.values import Desired, LiveObject, LiveState

CASES_DIR = Path(__file__).resolve().parents[1] / "plan_cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))
# A state entry in a case: state format 2's fields, with digest "match-desired" and "applied" (the
# declared attrs as last applied) for convenience.
STATE_ENTRY_KEYS = {"remote_id", "key", "digest", "applied", "prevent_destroy", "deposed", "state_fields",
                    "provider_data"}  # fmt: skip
CASE_KEYS = {"description", "xfail", "desired", "files", "live", "external_ids", "state", "expect"}
EXPECT_KEYS = {"changes", "unmanaged", "forget", "order", "summary", "has_changes", "error"}
CHANGE_KEYS = {
    "action",
    "reason_code",
    "cause",
    "adopt",
    "remote_id",
    "reason",
    "fields",
    "forces_replacement",
    "depends_on",
    "moved_from",
    "replace_order",
    "refused",
    "causes",
    "field_causes",
}


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(case) <= CASE_KEYS, f"{path.name}: unknown keys {set(case) - CASE_KEYS}"
    assert set(case["expect"]) <= EXPECT_KEYS, f"{path.name}: unknown expect keys"
    for address, change in case["expect"].get("changes", {}).items():
        assert set(change) <= CHANGE_KEYS, f"{path.name}: {address}: unknown keys {set(change) - CHANGE_KEYS}"
    return case


def desired_from(
    snippet: dict[str, Any], tmp_path: Path, files: dict[str, Any] | None = None
) -> list[Desired]:
    """Load ``snippet`` as a stack; ``files`` (path -> text, or a mapping written as JSON) are written
    beside it first, e.g. a Scramjet sequence's package folder."""
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    stack = tmp_path / "stack.yaml"
    stack.write_text(yaml.safe_dump({"version": 1, **(snippet or {})}, sort_keys=False), encoding="utf-8")
    return load_stack([stack], {}).resources


def live_from(case: dict[str, Any]) -> LiveState:
    live = LiveState()
    for kind_name, objects in (case.get("live") or {}).items():
        kind = KINDS_BY_NAME[kind_name]
        for obj in objects:
            name = obj.get("name", "")
            attrs = obj["attrs"]
            key = kind.natural_key(name, attrs)
            live.add(LiveObject(kind_name, obj["remote_id"], key, attrs, name, extra=obj.get("extra") or {}))
    for kind_name, ids in (case.get("external_ids") or {}).items():
        live.external_ids[kind_name] = set(ids)
    return live


def state_from(case: dict[str, Any], desired: list[Desired]) -> StateSnapshot:
    by_address = {r.address: r for r in desired}
    entries = {}
    for address, entry in (case.get("state") or {}).items():
        kind_name = address.split(".", 1)[0]
        res = by_address.get(address)
        value = entry.get("digest", "")
        unknown = set(entry) - STATE_ENTRY_KEYS
        assert not unknown, f"{address}: unknown state entry keys {sorted(unknown)}"
        fields: dict[str, Any] = {
            name: entry[name] for name in ("state_fields", "provider_data") if name in entry
        }  # state format 2's names (docs/state-format.md)
        if value == "match-desired":
            assert res is not None, f"{address}: match-desired needs the address to be declared"
            value = digest(res.attrs)
        if "applied" in entry:  # the declared attrs as last applied (these fields differed then)
            assert res is not None, f"{address}: applied needs the address to be declared"
            applied = {**res.attrs, **entry["applied"]}
            value = digest(applied)
            fields["applied_fields"] = field_digests(applied, KINDS_BY_NAME[kind_name].sensitive_fields)
        key = tuple(entry["key"]) if "key" in entry else ()
        if not key and res is not None:
            key = KINDS_BY_NAME[kind_name].natural_key(res.name, res.create_attrs)
        entries[address] = StateEntry(
            kind_name,
            entry["remote_id"],
            key,
            value,
            prevent_destroy=entry.get("prevent_destroy", False),
            deposed=tuple(entry.get("deposed", ())),
            **fields,
        )
    return StateSnapshot(entries)


def make_plan(case: dict[str, Any], tmp_path: Path) -> Plan:
    desired = desired_from(case.get("desired") or {}, tmp_path, case.get("files"))
    return plan(desired, live_from(case), state_from(case, desired))
