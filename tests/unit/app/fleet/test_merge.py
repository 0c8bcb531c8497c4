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
