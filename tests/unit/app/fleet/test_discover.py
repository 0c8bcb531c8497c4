"""Which folders are stacks, and the stable shard split (its documented formula, and that it partitions)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.app.fleet.discover import discover, in_shard, parse_shard, shard_of
from reconciler.errors import ConfigError


def touch(path: Path, text: str = "version: 1\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_stack_is_a_folder_of_stack_files_and_its_own_folders_belong_to_it(tmp_path: Path) -> None:
    touch(tmp_path / "team-a" / "prod" / "stack.yaml")
    touch(tmp_path / "team-a" / "prod" / "sequences" / "pkg" / "config.yml")  # inside a stack: not one
    touch(tmp_path / "team-a" / "dev" / "cores.yml")
    touch(tmp_path / "team-b" / "README.md")  # no stack files: not a stack
    touch(tmp_path / "team-b" / ".reconciler" / "x.yaml")  # hidden: skipped
    names = [s.relative for s in discover([tmp_path])]
    assert names == ["team-a/dev", "team-a/prod"]
    assert discover([tmp_path])[0].name == f"{tmp_path.as_posix()}/team-a/dev"


def test_no_stack_at_all_and_a_missing_directory_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no stacks here"):
        discover([tmp_path])
    with pytest.raises(ConfigError, match="needs a directory"):
        discover([tmp_path / "nope"])


def test_shard_is_the_documented_hash_of_the_relative_path() -> None:
    digest = hashlib.sha256(b"team-a/prod").digest()
    assert shard_of("team-a/prod", 7) == int.from_bytes(digest[:8], "big") % 7
    assert shard_of("team-a/prod", 1) == 0


def test_the_shards_of_n_partition_the_fleet_exactly(tmp_path: Path) -> None:
    for i in range(60):
        touch(tmp_path / f"project-{i % 7}" / f"env-{i}" / "stack.yaml")
    stacks = discover([tmp_path])
    for count in (1, 2, 3, 5, 8):
        parts = [in_shard(stacks, parse_shard(f"{i}/{count}")) for i in range(count)]
        names = [s.name for part in parts for s in part]
        assert sorted(names) == [s.name for s in stacks]  # every stack, each once
    assert all(parts), "with 60 stacks every one of 8 shards gets some"


def test_shard_does_not_depend_on_where_the_fleet_is_checked_out(tmp_path: Path) -> None:
    for root in ("a", "b"):
        for env in ("prod", "dev", "staging", "qa"):
            touch(tmp_path / root / "stacks" / env / "stack.yaml")
    first = [s.relative for s in in_shard(discover([tmp_path / "a" / "stacks"]), parse_shard("1/3"))]
    second = [s.relative for s in in_shard(discover([tmp_path / "b" / "stacks"]), parse_shard("1/3"))]
    assert first == second


@pytest.mark.parametrize("text", ["3/3", "1", "-1/2", "a/b", "0/0", "1/2/3"])
def test_a_bad_shard_says_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_shard(text)
    assert str(parse_shard(" 2 / 5 ")) == "2/5"
