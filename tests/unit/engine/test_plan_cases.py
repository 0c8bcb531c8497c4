"""Plan cases as data (tests/plan_cases/*.yaml): desired + live + state → expected changes.

Each case holds:

- ``desired``: a stack snippet (any kind, with ``providers`` settings if it needs them, e.g. Scramjet
  hubs), loaded through the real config loader, so references and managed-vs-default fields are
  exactly what a user's YAML gives; ``files``: files written beside it first (path -> text, or a
  mapping written as JSON), e.g. a sequence's package folder;
- ``live``: per kind, objects ``{remote_id, name?, attrs, extra?}`` in the kind's attr names
  (``extra``: what the provider reads besides, e.g. a Steamship instance's ``init_status``);
  ``external_ids``: per kind, ids that exist but are not resources (Signaloid's default cores);
- ``state``: per address ``{remote_id, digest, key?}`` and any other field of a state format 2 entry
  (``docs/state-format.md``: ``prevent_destroy``, ``deposed`` ids, ``state_fields``,
  ``provider_data``); ``digest: match-desired`` stands for the digest of the declared attrs, i.e.
  "the YAML has not changed since the last apply"; ``applied: {field: value}`` records
  the attrs as last applied (the declared ones, with these fields as they were then), digests per field;
- ``expect``: ``changes`` per address (``action, reason_code, cause, adopt, remote_id, reason`` fragment,
  ``fields`` as a list of paths or ``{path: [before, after]}`` as the plan JSON shows them,
  ``forces_replacement``, ``depends_on``, ``causes``, ``field_causes`` ``{path: cause}``,
  ``moved_from``, ``replace_order``, ``refused``: a
  fragment of the refusal, or null for "not refused"); and optionally ``unmanaged`` (remote ids), ``forget``,
  ``order`` (addresses in plan order), ``summary``, ``has_changes``; or ``error`` (fragments of
  the PlanError message).

Every change the plan makes must be listed: an unexpected change fails the case. A top-level
``xfail: reason`` marks a known bug (strict: the case fails loudly once the bug is fixed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.deciding.plan import plan
from reconciler.errors import PlanError
from reconciler.kinds import KINDS_BY_NAME
from reconciler.values import LiveState
from tests.support.plan_cases import (
    CASE_FILES,
    CASES_DIR,
    desired_from,
    live_from,
    load_case,
    make_plan,
    state_from,
)


def check_change(address: str, got: dict[str, Any], want: dict[str, Any]) -> None:
    keys = ("action", "reason_code", "cause", "adopt", "remote_id", "moved_from", "replace_order")
    assert got["pending"] is (got["action"] != "no-op"), f"{address}: pending {got['pending']!r}"
    for key in keys:
        if key in want:
            assert got[key] == want[key], f"{address}.{key}: {got[key]!r} != {want[key]!r}"
    if "refused" in want:
        if want["refused"] is None:
            assert got["refused"] is None, f"{address}: refused {got['refused']!r}"
        else:
            assert want["refused"] in (got["refused"] or ""), f"{address}: refused {got['refused']!r}"
    if "reason" in want:
        assert want["reason"] in got["reason"], f"{address}: reason {got['reason']!r}"
    if "fields" in want:
        fields = want["fields"]
        if isinstance(fields, dict):
            shown = {f["path"]: [f["before"], f["after"]] for f in got["fields"]}
            assert shown == fields, f"{address}: fields"
        else:
            assert sorted(f["path"] for f in got["fields"]) == sorted(fields), f"{address}: field paths"
    if "forces_replacement" in want:
        forcing = sorted(f["path"] for f in got["fields"] if f["forces_replacement"])
        assert forcing == sorted(want["forces_replacement"]), f"{address}: forces_replacement"
    if "causes" in want:
        assert got["causes"] == want["causes"], f"{address}: causes {got['causes']}"
    if "field_causes" in want:
        field_causes = {f["path"]: f["cause"] for f in got["fields"]}
        assert field_causes == want["field_causes"], f"{address}: field causes"
    if "depends_on" in want:
        assert got["depends_on"] == sorted(want["depends_on"]), f"{address}: depends_on"


def _params() -> list[Any]:
    params = []
    for path in CASE_FILES:
        reason = yaml.safe_load(path.read_text(encoding="utf-8")).get("xfail")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, marks=marks, id=path.stem))
    return params


@pytest.mark.parametrize("path", _params())
def test_plan_case(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(PlanError) as caught:
            make_plan(case, tmp_path)
        fragments = expect["error"] if isinstance(expect["error"], list) else [expect["error"]]
        for fragment in fragments:
            assert fragment in str(caught.value), str(caught.value)
        return
    result = make_plan(case, tmp_path)
    doc = result.to_json()
    got = {c["address"]: c for c in doc["changes"]}
    assert set(got) == set(expect.get("changes", {})), "the plan's addresses"
    for address, want in expect.get("changes", {}).items():
        check_change(address, got[address], want)
    if "unmanaged" in expect:
        assert sorted(o["remote_id"] for o in doc["unmanaged"]) == sorted(expect["unmanaged"])
    if "forget" in expect:
        assert list(result.forget) == sorted(expect["forget"])
    if "order" in expect:
        listed = set(expect["order"])
        assert [c["address"] for c in doc["changes"] if c["address"] in listed] == expect["order"]
    if "summary" in expect:
        assert doc["summary"] == expect["summary"]
    if "has_changes" in expect:
        assert result.has_changes() is expect["has_changes"]


def test_there_are_enough_cases() -> None:
    assert len(CASE_FILES) >= 20


def test_the_cases_cover_every_kind() -> None:
    covered = {
        kind
        for path in CASE_FILES
        for kind in (load_case(path).get("desired") or {})
        if kind in KINDS_BY_NAME
    }
    assert covered == set(KINDS_BY_NAME)


PLANNING_CASES = [p for p in CASE_FILES if "error" not in load_case(p)["expect"]]


@pytest.mark.parametrize("path", PLANNING_CASES, ids=[p.stem for p in PLANNING_CASES])
def test_plan_is_a_pure_function_with_a_json_value(path: Path, tmp_path: Path) -> None:
    """Same inputs, same plan; its JSON round-trips; every dependency is a change of the plan."""
    case = load_case(path)
    first, second = make_plan(case, tmp_path), make_plan(case, tmp_path)
    doc = first.to_json()
    assert doc == second.to_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["format_version"] == "2"
    addresses = [c["address"] for c in doc["changes"]]
    assert len(addresses) == len(set(addresses))
    for change in doc["changes"]:
        assert set(change["depends_on"]) <= set(addresses), change["address"]
        assert change["address"] not in change["depends_on"]
    counts = {a: sum(c["action"] == a for c in doc["changes"]) for a in doc["summary"]}
    assert doc["summary"] == counts


def test_plan_ignores_the_order_of_its_inputs(tmp_path: Path) -> None:
    case = load_case(CASES_DIR / "core_renamed_repoints_repository.yaml")
    desired = desired_from(case["desired"], tmp_path)
    live, state = live_from(case), state_from(case, desired)
    shuffled = LiveState({k: list(reversed(v)) for k, v in live.objects.items()}, live.external_ids)
    assert plan(desired, live, state).to_json() == plan(list(reversed(desired)), shuffled, state).to_json()
