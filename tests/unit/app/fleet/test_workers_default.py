"""How many workers ``--workers`` defaults to: the cores this process may run on, bounded by its
cgroup's CPU quota (a container limited to 2 CPUs on a big node must not start a worker per core
of the node), read from cgroup v2's ``cpu.max`` or v1's CFS files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.app.fleet.workers import cpu_quota, default_workers


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n", encoding="ascii")
    return root


def cgroup_v1(root: Path, quota_us: int, period_us: int) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota_us}\n", encoding="ascii")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period_us}\n", encoding="ascii")
    return root


def test_the_quota_is_read_from_cgroup_v2_or_v1(tmp_path: Path) -> None:
    assert cpu_quota(cgroup_v2(tmp_path / "a", "200000 100000")) == 2.0
    assert cpu_quota(cgroup_v2(tmp_path / "b", "max 100000")) is None
    assert cpu_quota(cgroup_v1(tmp_path / "c", 150_000, 100_000)) == 1.5
    assert cpu_quota(cgroup_v1(tmp_path / "d", -1, 100_000)) is None
    assert cpu_quota(tmp_path / "none") is None


@pytest.mark.parametrize("text", ["", "lots 100000", "100000 0", "100000"])
def test_a_quota_file_that_does_not_parse_is_no_quota(tmp_path: Path, text: str) -> None:
    assert cpu_quota(cgroup_v2(tmp_path, text)) is None


def test_the_default_is_the_cores_bounded_by_the_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_workers(tmp_path / "none") == cores
    assert default_workers(cgroup_v2(tmp_path / "half", "50000 100000")) == 1  # never 0
    assert default_workers(cgroup_v2(tmp_path / "one-and-a-half", "150000 100000")) == min(cores, 2)
    assert default_workers(cgroup_v2(tmp_path / "many", f"{100_000 * (cores + 8)} 100000")) == cores


@pytest.mark.timeout(10)
def test_a_quota_file_that_is_not_a_regular_file_is_no_quota_and_never_waited_on(tmp_path: Path) -> None:
    """A FIFO (or a huge file) where ``cpu.max`` should be: read without blocking, with a cap."""
    os.mkfifo(tmp_path / "cpu.max")
    assert cpu_quota(tmp_path) is None
    huge = cgroup_v2(tmp_path / "huge", "200000 100000" + " " * 10_000)
    assert cpu_quota(huge) is None
