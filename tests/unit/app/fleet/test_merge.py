"""``report merge``: shards joined into one report; overlaps, other versions and missing shards refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.app.fleet.merge import MergeError, merge_reports, read_report
from reconciler.app.fleet.model import fleet_report, stack_result
from tests.support.fleet import change, plan_doc

AT = "2026-01-02T03:04:05Z"


def shard(index: int, count: int, *names: str, drift: bool = False) -> dict[str, Any]:
    kind = "update" if drift else "no-op"
    stacks = [
        stack_result(
            n,
            plan_doc(change("cores.x", action=kind, cause="drift" if drift else None)),
            checked_at=AT,
            duration_s=0.1,
            http={},
        )
        for n in names
    ]
    return fleet_report(
        stacks, generated_at=AT, duration_s=2.0 + index, shards=[{"index": index, "count": count}]
    )


def test_shards_merge_into_one_report_with_one_exit_code() -> None:
    merged = merge_reports(
        {Path("0.json"): shard(0, 2, "a", "c"), Path("1.json"): shard(1, 2, "b", drift=True)}
    )
    assert [s["name"] for s in merged["stacks"]] == ["a", "b", "c"]
    assert merged["summary"]["stacks"] == 3 and merged["summary"]["drifted"] == 1
    assert merged["exit_code"] == 2 and merged["missing_shards"] == []
    assert merged["duration_s"] == 3.0  # the slowest shard: they ran side by side


def test_a_missing_shard_makes_the_merge_fail_instead_of_looking_in_sync() -> None:
    merged = merge_reports({Path("0.json"): shard(0, 3, "a"), Path("2.json"): shard(2, 3, "b")})
    assert merged["missing_shards"] == [1] and merged["exit_code"] == 1


def test_overlapping_or_inconsistent_shards_are_refused() -> None:
    with pytest.raises(MergeError, match="stack a is in both"):
        merge_reports({Path("0.json"): shard(0, 2, "a"), Path("1.json"): shard(1, 2, "a")})
    with pytest.raises(MergeError, match="shard 0 is in both"):
        merge_reports({Path("x.json"): shard(0, 2, "a"), Path("y.json"): shard(0, 2, "b")})
    with pytest.raises(MergeError, match="different ways"):
        merge_reports({Path("x.json"): shard(0, 2, "a"), Path("y.json"): shard(1, 3, "b")})


def test_reading_a_file_that_is_not_a_fleet_report_says_so(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc()))
    with pytest.raises(MergeError, match=r"plan.json: \$.report: not a fleet report"):
        read_report(plan)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**shard(0, 1, "a"), "format_version": "2"}))
    with pytest.raises(
        MergeError, match=r"future.json: \$.format_version: is '2'; this reconciler reads '1'"
    ):
        read_report(future)
    with pytest.raises(MergeError, match=r"absent\.json: cannot read: No such file"):
        read_report(tmp_path / "absent.json")


def test_a_report_nested_too_deeply_is_one_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MergeError, match="nested too deeply"):
        read_report(deep)


SANDBOX = {"sandbox": True, "policy": ["policy"], "policy_namespace": None, "environment": {}}


def written(tmp_path: Path, name: str, report: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def with_how(report: dict[str, Any], how: dict[str, Any] | None) -> dict[str, Any]:
    without = {k: v for k, v in report.items() if k != "checked_with"}
    return without if how is None else {**without, "checked_with": how}


def test_merge_keeps_how_the_stacks_were_checked_when_every_report_agrees(tmp_path: Path) -> None:
    files = {
        written(tmp_path, f"{i}.json", with_how(shard(i, 2, n, drift=True), SANDBOX)): None
        for i, n in enumerate("ab")
    }
    merged = merge_reports({path: read_report(path) for path in files})
    assert merged["checked_with"] == SANDBOX


def test_an_older_report_without_checked_with_still_reads_and_merges_without_it(tmp_path: Path) -> None:
    old = read_report(written(tmp_path, "old.json", with_how(shard(0, 2, "a"), None)))
    new = read_report(written(tmp_path, "new.json", with_how(shard(1, 2, "b"), SANDBOX)))
    assert old["checked_with"] is None and new["checked_with"] == SANDBOX
    merged = merge_reports({Path("old.json"): old, Path("new.json"): new})
    assert "checked_with" not in merged  # one report does not say: its stacks' command would be a guess


def test_reports_checked_in_different_ways_are_refused() -> None:
    sandboxed = with_how(shard(0, 2, "a"), SANDBOX)
    real = with_how(shard(1, 2, "b"), {**SANDBOX, "sandbox": False})
    with pytest.raises(MergeError, match=r"x\.json and y\.json were not checked the same way"):
        merge_reports({Path("x.json"): sandboxed, Path("y.json"): real})


@pytest.mark.parametrize(
    ("how", "where"),
    [
        ({"sandbox": "yes"}, r"\$\.checked_with\.sandbox"),
        ({"policy": ["p"]}, r"\$\.checked_with\.sandbox: required, missing"),
        ({"sandbox": True, "policy": "p"}, r"\$\.checked_with\.policy"),
        ({"sandbox": True, "policy": [""]}, r"\$\.checked_with\.policy\[0\]"),
        ([True], r"\$\.checked_with"),
        ({"sandbox": False, "environment": {"LD_PRELOAD": "/tmp/x.so"}}, r"\$\.checked_with\.environment"),
        ({"sandbox": False, "environment": {"RECONCILER_STATE_STACK": 7}}, r"\$\.checked_with\.environment"),
    ],
)
def test_checked_with_is_parsed_strictly(tmp_path: Path, how: Any, where: str) -> None:
    from reconciler.app.fleet.schema import ReportDefect

    with pytest.raises(ReportDefect, match=where):
        read_report(written(tmp_path, "r.json", {**shard(0, 1, "a"), "checked_with": how}))
