"""Waiting for another run's state lock (``--lock-timeout``): a person sees at once who holds it
and since when, then a heartbeat line naming the holder, the time waited and the time left; and
the wait never blocks the event loop. Real locks: a local ``flock`` and a PostgreSQL advisory lock,
held by another process; the apply is ``.venv/bin/reconciler`` in a subprocess against the
emulators served on a loopback port, with a short heartbeat (``RECONCILER_HEARTBEAT_INTERVAL``)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import LockHeld
from reconciler.state import LocalStateStore
from reconciler.state.postgres import PostgresStateStore
from tests.support.cli import RECONCILER_BIN
from tests.support.postgres import postgres_dsn
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE

HOST = re.escape(socket.gethostname())
SINCE = r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"  # a time with its zone
HOLDER_SCRIPT = """\
import os, sys
from reconciler.state import LocalStateStore
from reconciler.state.postgres import PostgresStateStore
store = (PostgresStateStore(os.environ["RECONCILER_PG_DSN"], sys.argv[2]) if sys.argv[1] == "postgres"
         else LocalStateStore(__import__("pathlib").Path(sys.argv[2])))
with store.lock("apply"):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


@contextmanager
def held_by_another_process(backend: str, where: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the lock until the block ends (or ``release(holder)``)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, backend, where],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        release(holder)


def release(holder: subprocess.Popen[str]) -> None:
    if holder.stdin is not None and not holder.stdin.closed:
        holder.stdin.close()
    holder.wait(timeout=10)


def write_stack(folder: Path, pg_stack: str | None = None) -> Path:
    doc: dict[str, Any] = {"version": 1}
    if pg_stack is not None:
        doc["state"] = {"backend": "postgres", "dsn": "${env:RECONCILER_PG_DSN}", "stack": pg_stack}
    doc["cores"] = {"waiter": dict(CORE)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def start_apply(folder: Path, lock_timeout: float, heartbeat: float = 0.4) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    env |= {"NO_COLOR": "1", "RECONCILER_HEARTBEAT_INTERVAL": str(heartbeat)}
    for name in ("RECONCILER_STATE_BACKEND", "RECONCILER_STATE_STACK"):
        env.pop(name, None)
    return subprocess.Popen(
        [
            str(RECONCILER_BIN),
            "apply",
            "--auto-approve",
            "--lock-timeout",
            str(lock_timeout),
            "-f",
            str(folder),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def heartbeats(stderr: str, holder_pid: int) -> list[tuple[int, int]]:
    """(elapsed, left) in seconds of each heartbeat line naming the holder."""
    pattern = (
        rf"^Still waiting for the state lock held by pid {holder_pid} on {HOST} \(apply, {SINCE}\)… "
        r"(\d+):(\d\d) elapsed, timeout in (\d+):(\d\d)$"
    )
    found = re.finditer(pattern, stderr, re.MULTILINE)
    return [(int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])) for m in found]


@pytest.fixture
def backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, Path, str]:
    """(backend, stack folder, where the holder locks): the local file beside the stack, or a
    PostgreSQL stack of its own."""
    folder = tmp_path / "stack"
    if request.param == "postgres":
        monkeypatch.setenv("RECONCILER_PG_DSN", postgres_dsn())
        pg_stack = f"test-{uuid.uuid4().hex[:12]}"
        return "postgres", write_stack(folder, pg_stack), pg_stack
    return "local", write_stack(folder), str(folder / ".reconciler" / "state.json")


BACKENDS = pytest.mark.parametrize("backend", ["local", "postgres"], indirect=True)


@BACKENDS
def test_a_wait_that_times_out_says_who_holds_the_lock_every_beat(
    backend: tuple[str, Path, str], start_sandbox: StartSandbox
) -> None:
    start_sandbox()
    kind, folder, where = backend
    with held_by_another_process(kind, where) as holder:
        started = time.monotonic()
        apply = start_apply(folder, lock_timeout=3)
        out, err = apply.communicate(timeout=60)
        took = time.monotonic() - started
    assert apply.returncode == 1, err
    first = err.splitlines()[0]
    assert re.fullmatch(
        rf"The state is locked by pid {holder.pid} on {HOST} \(apply, {SINCE}\); "
        r"waiting up to 3s \(--lock-timeout\)…",
        first,
    ), err
    beats = heartbeats(err, holder.pid)
    assert len(beats) >= 4, err  # 3 s at 0.4 s a beat: one line at each, even with a slow start
    assert [e for e, _ in beats] == sorted(e for e, _ in beats) and beats[-1][0] >= 2, beats
    assert all(e + left == 3 for e, left in beats), beats  # elapsed + left (rounded up) = the timeout
    assert (
        "Still reading live state" not in err.split("The state is locked")[1]
    )  # the lock's wait, not a read
    assert re.search(rf"Error: state is locked by pid {holder.pid} on {HOST} .*waited 3s", err), err
    assert took < 20 and "Apply complete" not in out
    if kind == "postgres":
        assert postgres_dsn() not in err and "password" not in err.lower()


@BACKENDS
def test_the_apply_goes_ahead_once_the_holder_lets_go(
    backend: tuple[str, Path, str], start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    kind, folder, where = backend
    with held_by_another_process(kind, where) as holder:
        apply = start_apply(folder, lock_timeout=60)
        assert apply.stderr is not None
        seen = [apply.stderr.readline() for _ in range(3)]  # the first line and two beats
        release(holder)
        out, rest = apply.communicate(timeout=60)
    err = "".join(seen) + rest
    assert apply.returncode == 0, err
    assert seen[0].startswith(f"The state is locked by pid {holder.pid} on "), err
    assert len(heartbeats(err, holder.pid)) >= 2, err
    assert "Apply complete! Resources: 1 added" in out
    assert len(sandbox.api.ids("cores")) == 1


@pytest.fixture
def hold(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """(the holding store, another store of the same state) for each backend."""
    if request.param == "postgres":
        dsn, name = postgres_dsn(), f"test-{uuid.uuid4().hex[:12]}"
        first, second = PostgresStateStore(dsn, name), PostgresStateStore(dsn, name)
        yield first, second
        first.close()
        second.close()
    else:
        path = tmp_path / ".reconciler" / "state.json"
        yield LocalStateStore(path), LocalStateStore(path)


class Watcher:
    def __init__(self) -> None:
        self.events: list[str] = []

    def waiting(self, holder: Any, timeout: float) -> None:
        self.events.append(f"waiting {timeout}: {holder()}")

    def done(self) -> None:
        self.events.append("done")


@pytest.mark.parametrize("hold", ["local", "postgres"], indirect=True)
def test_the_wait_leaves_the_event_loop_free(hold: tuple[Any, Any]) -> None:
    """While one store's lock waits for the other's holder, another task keeps ticking."""
    holding, waiting = hold
    watcher = Watcher()

    async def scenario() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        async with holding.lock("apply"):
            ticker = asyncio.create_task(tick())
            with pytest.raises(LockHeld):
                async with waiting.lock("destroy", timeout=1.0, watcher=watcher):
                    pytest.fail("took a held lock")
            ticker.cancel()
        async with waiting.lock("destroy", timeout=1.0, watcher=watcher):  # free now: at once
            pass
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks >= 20, ticks  # 1 s of waiting; a blocked loop would tick once or never
    assert len(watcher.events) == 2 and watcher.events[1] == "done", watcher.events
    assert re.fullmatch(rf"waiting 1.0: pid {os.getpid()} on {HOST} \(apply, {SINCE}\)", watcher.events[0])


def test_every_wait_of_an_apply_beats_reading_applying_and_checking(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    """Against a slow API (every answer 0.5 s late), each wait of the apply says it is still going:
    reading live state, the create running, and the check after apply reading it back."""
    start_sandbox(latency_ms=500)
    folder = write_stack(tmp_path / "stack")
    apply = start_apply(folder, lock_timeout=0, heartbeat=0.2)
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, out + err
    assert re.search(r"^Still reading live state… 0:0\d elapsed$", err, re.MULTILINE), err
    assert re.search(r"^\[0/1 at 0:0\d\] still creating cores\.waiter \(0:0\d\)$", out, re.MULTILINE), out
    after = err.split("Still checking live state after the apply… ", 1)
    assert len(after) == 2 and re.match(r"0:0\d elapsed\n", after[1]), err
    assert "Apply complete! Resources: 1 added" in out


def test_the_runs_deadline_stops_a_wait_for_the_lock(
    tmp_path: Path, start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RECONCILER_RUN_TIMEOUT`` bounds the wait too: the wait no longer holds the event loop, so
    the deadline fires on time instead of after the whole ``--lock-timeout``."""
    start_sandbox()
    folder = write_stack(tmp_path / "stack")
    with held_by_another_process("local", str(folder / ".reconciler" / "state.json")):
        started = time.monotonic()
        monkeypatch.setenv("RECONCILER_RUN_TIMEOUT", "1.5")
        apply = start_apply(folder, lock_timeout=60, heartbeat=0.5)
        _out, err = apply.communicate(timeout=60)
        took = time.monotonic() - started
    assert apply.returncode == 1, err
    assert "the run did not finish within 1.5s (RECONCILER_RUN_TIMEOUT)" in err, err
    assert took < 15, took  # not the 60 s of --lock-timeout


def test_reading_from_a_throttling_api_says_calls_are_waiting_on_429s(tmp_path: Path) -> None:
    """``--sandbox`` throttled to one request a second: the reading heartbeat counts the 429s."""
    folder = tmp_path / "stack"
    folder.mkdir()
    doc = {"version": 1, "cores": {"c": dict(CORE)}}
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "FORCE_COLOR"))}
    env |= {"NO_COLOR": "1", "RECONCILER_HEARTBEAT_INTERVAL": "0.3", "RECONCILER_SANDBOX_RATE_LIMIT": "1"}
    done = subprocess.run(
        [str(RECONCILER_BIN), "plan", "--sandbox", "-f", str(folder)],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = re.findall(
        r"^Still reading live state \(signaloid: (\d+) answers? 429 so far, calls wait and retry\)… "
        r"0:0\d elapsed$",
        done.stderr,
        re.MULTILINE,
    )
    assert said and int(said[-1]) >= 1, done.stderr


def test_state_rm_says_it_waits_for_the_lock_too(tmp_path: Path) -> None:
    folder = write_stack(tmp_path / "stack")
    with held_by_another_process("local", str(folder / ".reconciler" / "state.json")) as holder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "FORCE_COLOR"))}
        done = subprocess.run(
            [str(RECONCILER_BIN), "state", "rm", "--lock-timeout", "1.5", "-f", str(folder), "cores.waiter"],
            env=env | {"NO_COLOR": "1", "RECONCILER_HEARTBEAT_INTERVAL": "0.4"},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"The state is locked by pid {holder.pid} on "), done.stderr
    assert len(heartbeats(done.stderr, holder.pid)) >= 2, done.stderr
    assert "Error: state is locked by" in done.stderr and "waited 1.5s" in done.stderr
