"""The local lock honours ``--lock-timeout``: it waits (on a fake clock: no real sleeping), then
fails naming the holder, or takes the lock as soon as the holder lets go."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import LockHeld
from reconciler.sandbox.inprocess import InProcessSandbox
from reconciler.state import LocalStateStore
from reconciler.state.waiting import POLL_INTERVAL_S, LockWait

HOLDER = rf"state is locked by pid {os.getpid()} on {re.escape(socket.gethostname())} \(apply, since "


class FakeTime:
    """A clock that only moves when someone sleeps; ``on_sleep(n)`` runs after the n-th sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] = lambda n: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))

    def wait(self) -> LockWait:
        return LockWait(clock=self.clock, sleep=self.sleep)


def take(store: LocalStateStore, timeout: float, purpose: str = "apply") -> None:
    with store.lock(purpose, timeout=timeout):
        pytest.fail("took a lock that is held")


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / ".reconciler" / "state.json"


def test_timeout_zero_fails_at_once_naming_the_holder(state_path: Path) -> None:
    fake = FakeTime()
    with LocalStateStore(state_path).lock("apply"), pytest.raises(LockHeld, match=HOLDER) as caught:
        take(LocalStateStore(state_path, wait=fake.wait()), timeout=0)
    assert fake.sleeps == []
    said = str(caught.value)
    assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", said), said  # a time with its zone
    assert "pass --lock-timeout SECONDS" in said  # and how to wait for the holder
    assert "waited" not in str(caught.value)


def test_waits_the_whole_timeout_in_short_polls_then_fails(state_path: Path) -> None:
    fake = FakeTime()
    with LocalStateStore(state_path).lock("apply"), pytest.raises(LockHeld, match=HOLDER) as caught:
        take(LocalStateStore(state_path, wait=fake.wait()), timeout=5, purpose="destroy")
    assert sum(fake.sleeps) == pytest.approx(5)
    assert max(fake.sleeps) <= POLL_INTERVAL_S
    assert "waited 5s" in str(caught.value)


def test_takes_the_lock_as_soon_as_the_holder_lets_go(state_path: Path) -> None:
    fake = FakeTime()
    first = contextlib.ExitStack()
    first.enter_context(LocalStateStore(state_path).lock("apply"))
    fake.on_sleep = lambda n: first.close() if n == 3 else None
    second = LocalStateStore(state_path, wait=fake.wait())
    with second.lock("apply", timeout=60):
        holder = json.loads(second.lock_path.read_text())
        assert holder["purpose"] == "apply" and holder["pid"] == os.getpid()
    assert len(fake.sleeps) == 3
    assert not second.lock_path.exists()


def test_a_dead_holders_lock_is_taken_over_without_waiting(state_path: Path) -> None:
    state_path.parent.mkdir(parents=True)
    lock_path = state_path.with_name("state.json.lock")
    dead = {"pid": 2**31 - 1, "host": socket.gethostname(), "since": 0, "purpose": "apply"}
    lock_path.write_text(json.dumps(dead))
    fake = FakeTime()
    seen: list[object] = []
    store = LocalStateStore(state_path, on_stale_lock=seen.append, wait=fake.wait())
    with store.lock("apply", timeout=0):
        assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    assert seen == [dead] and fake.sleeps == []


def test_another_hosts_lock_is_never_taken_over(state_path: Path) -> None:
    state_path.parent.mkdir(parents=True)
    lock_path = state_path.with_name("state.json.lock")
    lock_path.write_text(json.dumps({"pid": 1, "host": "ci-runner-7", "since": 0, "purpose": "state rm"}))
    fake = FakeTime()
    with pytest.raises(LockHeld, match=r"locked by pid 1 on ci-runner-7 \(state rm, since .*waited 1s"):
        take(LocalStateStore(state_path, wait=fake.wait()), timeout=1)
    assert lock_path.exists()


def test_lock_wait_with_negative_timeout_tries_once(state_path: Path) -> None:
    fake = FakeTime()
    assert list(fake.wait().pauses(-3)) == []
    with LocalStateStore(state_path).lock("apply"), pytest.raises(LockHeld):
        take(LocalStateStore(state_path, wait=fake.wait()), timeout=-3)
    assert fake.sleeps == []


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "stack.yaml").write_text("version: 1\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("command", [["apply", "--auto-approve"], ["destroy", "--auto-approve"]])
def test_apply_and_destroy_fail_naming_the_holder_with_lock_timeout_zero(
    stack: Path, command: list[str]
) -> None:
    state = InProcessSandbox(stack / ".reconciler" / "sandbox").state_path
    with LocalStateStore(state).lock("apply"):
        result = CliRunner().invoke(main, [*command, "--sandbox", "--lock-timeout", "0", "-f", str(stack)])
    assert result.exit_code == 1, result.output
    assert re.search(HOLDER, result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_state_rm_takes_the_lock_with_a_timeout(stack: Path) -> None:
    with LocalStateStore(stack / ".reconciler" / "state.json").lock("apply"):
        result = CliRunner().invoke(main, ["state", "rm", "--lock-timeout", "0", "-f", str(stack), "cores.x"])
    assert result.exit_code == 1
    assert re.search(HOLDER, result.stderr), result.stderr


def test_lock_timeout_must_not_be_negative(stack: Path) -> None:
    result = CliRunner().invoke(main, ["apply", "--lock-timeout", "-1", "-f", str(stack)])
    assert result.exit_code == 1 and "--lock-timeout" in result.output  # a usage error: 1, never 2
