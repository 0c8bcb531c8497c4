"""The local lock holds even when its lock file is removed or replaced (the kernel's ``flock`` on
the state directory is the lock), a holder never removes another's lock file, and a write is fenced:
it refuses when the directory it locked is no longer the state directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import LockHeld, LockLost, StateError
from reconciler.state import LocalStateStore, StateEntry

ENTRY = StateEntry("cores", "cor_1", ("fast",), "sha256:abc")


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(tmp_path / ".reconciler" / "state.json")


def test_removing_the_lock_file_does_not_free_the_lock(store: LocalStateStore) -> None:
    with store.lock("apply"):
        store.lock_path.unlink()
        missing = r"locked by another process .*lock file state.json.lock is missing"
        with pytest.raises(LockHeld, match=missing), LocalStateStore(store.path).lock("apply"):
            pytest.fail("a second holder got the lock")


def test_replacing_the_lock_file_does_not_free_the_lock(store: LocalStateStore) -> None:
    with store.lock("apply"):
        store.lock_path.unlink()
        store.lock_path.write_text(json.dumps({"pid": 999_999_999, "host": "elsewhere", "since": 0}))
        with pytest.raises(LockHeld), LocalStateStore(store.path).lock("apply"):
            pytest.fail("a second holder got the lock")


def test_a_holder_never_removes_a_lock_file_that_is_not_its_own(store: LocalStateStore) -> None:
    foreign = json.dumps({"pid": 1, "host": "ci-runner-7", "since": 0, "purpose": "apply"})
    with store.lock("apply"):
        store.lock_path.unlink()
        store.lock_path.write_text(foreign)
    assert store.lock_path.read_text() == foreign


def test_the_next_write_puts_a_removed_lock_file_back(store: LocalStateStore) -> None:
    with store.lock("apply"):
        store.lock_path.unlink()
        asyncio.run(store.record("cores.fast", ENTRY))
        assert json.loads(store.lock_path.read_text())["pid"] == os.getpid()
    assert not store.lock_path.exists()


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_a_write_after_the_state_directory_was_replaced_is_refused(store: LocalStateStore, how: str) -> None:
    with store.lock("apply"):
        asyncio.run(store.record("cores.a", ENTRY))
        if how == "moved":
            store.path.parent.rename(store.path.parent.with_name("moved-away"))
        else:
            shutil.rmtree(store.path.parent)
        store.path.parent.mkdir()
        with pytest.raises(LockLost, match="was removed or replaced while this run held it"):
            asyncio.run(store.record("cores.b", ENTRY))
        with pytest.raises(LockLost):
            asyncio.run(store.fence())
    assert not store.path.exists()  # nothing written into the directory it does not hold
    assert LocalStateStore(store.path).read().entries == {}


def test_the_lock_dies_with_its_process(store: LocalStateStore) -> None:
    """SIGKILL the holder: the kernel drops the flock; its leftover lock file is taken over."""
    store.path.parent.mkdir(parents=True)
    code = (
        "import sys; from pathlib import Path; from reconciler.state import LocalStateStore\n"
        "with LocalStateStore(Path(sys.argv[1])).lock('apply'):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(store.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockHeld, match=f"pid {holder.pid}"), store.lock("apply"):
            pass
        holder.kill()
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    seen: list[object] = []
    with LocalStateStore(store.path, on_stale_lock=seen.append).lock("apply"):
        pass
    assert len(seen) == 1


def test_a_lock_file_that_cannot_be_written_is_a_clear_error(store: LocalStateStore) -> None:
    store.lock_path.mkdir(parents=True)  # in the way, even for root
    with pytest.raises(StateError, match=r"cannot write the lock file .*state.json.lock"):
        take(store)
    store.lock_path.rmdir()
    take(store, expect_taken=True)  # nothing was left held


def take(store: LocalStateStore, *, expect_taken: bool = False) -> None:
    with store.lock("apply"):
        assert expect_taken, "took the lock"
