"""The local state file: atomic writes, record/remove, the lock file, corrupt files."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import LockHeld, StateError
from reconciler.state import LocalStateStore, StateEntry

ENTRY = StateEntry("cores", "cor_1", ("fast",), "sha256:abc", provider_data={"package": "sha256:def"})


def record(store: LocalStateStore, address: str, entry: StateEntry | None) -> None:
    asyncio.run(store.record(address, entry))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def dead_pid() -> int:
    """A pid no process has right now."""
    for pid in range(4_194_000, 4_000_000, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    raise AssertionError("no free pid found")


def write_lock(store: LocalStateStore, **holder: Any) -> None:
    store.lock_path.parent.mkdir(parents=True, exist_ok=True)
    base = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "purpose": "apply"}
    store.lock_path.write_text(json.dumps({**base, **holder}))


def test_no_file_is_empty_state(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / ".reconciler" / "state.json")
    assert dict(store.read().entries) == {}
    assert not store.path.exists()


def test_record_and_read_back_in_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / ".reconciler" / "state.json"
    store = LocalStateStore(path)
    record(store, "cores.fast", ENTRY)
    record(store, "webhooks.hook", StateEntry("webhooks", "wh_1", ("https://x",), "sha256:1"))
    again = LocalStateStore(path).read()
    assert again.get("cores.fast") == ENTRY
    assert again.get("webhooks.hook").remote_id == "wh_1"  # type: ignore[union-attr]
    assert again.kinds() == {"cores", "webhooks"}
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 2
    assert list(doc["resources"]) == ["cores.fast", "webhooks.hook"]


def test_remove(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    record(store, "cores.fast", ENTRY)
    record(store, "cores.other", ENTRY)
    record(store, "cores.fast", None)
    record(store, "cores.never-there", None)
    assert set(LocalStateStore(store.path).read().entries) == {"cores.other"}


def test_a_snapshot_does_not_change_under_its_reader(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    before = store.read()
    record(store, "cores.fast", ENTRY)
    assert before.get("cores.fast") is None and store.read().get("cores.fast") == ENTRY


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    for i in range(5):
        record(store, f"cores.c{i}", ENTRY)
    assert files_in(tmp_path) == ["state.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    record(store, "cores.fast", ENTRY)
    before = store.path.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError, match=r"cannot write state file .*No space left on device"):
        record(store, "cores.other", ENTRY)
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert files_in(tmp_path) == ["state.json"]


def test_concurrent_records_all_land(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")

    async def many() -> None:
        await asyncio.gather(*(store.record(f"cores.c{i}", ENTRY) for i in range(20)))

    asyncio.run(many())
    assert len(LocalStateStore(store.path).read().entries) == 20


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "cannot read state file"),
        ("[]", "cannot read state file"),
        ('{"format_version": 99, "resources": {}}', "unsupported state format 99"),
        ('{"format_version": 1, "resources": {"cores.x": {"kind": "cores"}}}', "cannot read state file"),
        ('{"format_version": 1, "resources": []}', "cannot read state file"),
    ],
    ids=["syntax", "list", "version", "missing-field", "resources-list"],
)
def test_a_corrupt_file_is_a_state_error(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateError) as caught:
        LocalStateStore(path).read()
    assert fragment in str(caught.value) and str(path) in str(caught.value)


def test_the_lock_records_its_holder_and_is_released(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / ".reconciler" / "state.json")
    with store.lock("apply"):
        holder = json.loads(store.lock_path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["purpose"] == "apply"
    assert not store.lock_path.exists()


def test_the_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    with pytest.raises(RuntimeError), store.lock("apply"):
        raise RuntimeError("apply failed")
    assert not store.lock_path.exists()


def test_a_live_holder_is_named(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    with store.lock("apply"):
        other = LocalStateStore(store.path)
        with pytest.raises(LockHeld) as caught, other.lock("destroy"):
            pass
    text = str(caught.value)
    assert f"pid {os.getpid()}" in text and socket.gethostname() in text
    assert "(apply, since" in text and str(store.lock_path) in text


def test_a_holder_on_another_host_is_never_taken_over(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    write_lock(store, pid=dead_pid(), host="ci-runner-7")
    with pytest.raises(LockHeld, match="on ci-runner-7"), store.lock("apply"):
        pass
    assert store.lock_path.exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    seen: list[Any] = []
    store = LocalStateStore(tmp_path / "state.json", on_stale_lock=seen.append)
    pid = dead_pid()
    write_lock(store, pid=pid)
    with store.lock("apply"):
        assert json.loads(store.lock_path.read_text())["pid"] == os.getpid()
    assert [h["pid"] for h in seen] == [pid]
    assert not store.lock_path.exists()


@pytest.mark.parametrize("content", ["", "{half", '{"pid": "x", "host": "HOST"}'])
def test_an_unreadable_lock_is_treated_as_stale(tmp_path: Path, content: str) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    store.lock_path.write_text(content.replace("HOST", socket.gethostname()))
    with store.lock("apply"):
        assert json.loads(store.lock_path.read_text())["pid"] == os.getpid()
