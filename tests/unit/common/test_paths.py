"""Path resolution gives one outcome and one message on every Python (3.13 changed both)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.common.paths import SYMLINK_LOOP, PathProblem, resolve, write_atomic


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "ping").symlink_to(tmp_path / "pong")
    (tmp_path / "pong").symlink_to(tmp_path / "ping")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    return tmp_path


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("name", ["self", "ping", "self/below", "dir/../ping/below"])
def test_a_symlink_loop_is_the_same_problem_on_every_python(tree: Path, name: str, strict: bool) -> None:
    """Python <= 3.12 raised RuntimeError; 3.13 raises OSError (strict) or returns the path (not)."""
    with pytest.raises(PathProblem) as caught:
        resolve(tree / name, strict=strict)
    assert caught.value.reason == SYMLINK_LOOP
    assert str(caught.value) == f"{tree / name}: {SYMLINK_LOOP}"
    assert isinstance(caught.value, OSError)  # callers catching OSError still catch it


def test_links_that_lead_somewhere_resolve(tree: Path) -> None:
    assert resolve(tree / "link" / "file", strict=True) == tree.resolve() / "dir" / "file"
    assert resolve(tree / "link" / "not-yet") == tree.resolve() / "dir" / "not-yet"


def test_missing_is_fine_unless_strict(tree: Path) -> None:
    assert resolve(tree / "dangling") == tree.resolve() / "nowhere"
    assert resolve(tree / "dir" / "file" / "under-a-file") == tree.resolve() / "dir" / "file" / "under-a-file"
    with pytest.raises(PathProblem) as caught:
        resolve(tree / "dangling", strict=True)
    assert str(caught.value) == f"{tree / 'dangling'}: {os.strerror(2)}"


def test_write_atomic_writes_whole_files_and_makes_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "state.json"
    write_atomic(target, "héllo")
    write_atomic(target, b"\x00bytes", durable=True)
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temp file left


def test_write_atomic_failing_midway_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("reviewed", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "half \ud800 written")  # a lone surrogate cannot be encoded
    assert target.read_text(encoding="utf-8") == "reviewed"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
