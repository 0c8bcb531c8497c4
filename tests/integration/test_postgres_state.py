"""The PostgreSQL state backend against a real server (``RECONCILER_TEST_PG_DSN``, see
``tests/support/postgres.py``) and the CLI against the emulators served on a loopback port
(``--sandbox`` would force local state).

Concurrency is made deterministic with a gate in front of the emulators: mutating requests are
held until the test opens it, so "the first apply is mid-run and holds the lock" is a fact the
test waits for, not a guess about timing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from reconciler.errors import LockHeld, LockLost, StateError
from reconciler.state.base import StateEntry
from reconciler.state.postgres import PostgresStateStore
from tests.support.cli import RunCli
from tests.support.gate import Gate, finish, poll, spawn
from tests.support.postgres import postgres_dsn
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def dsn() -> str:
    return postgres_dsn()


@pytest.fixture
def stack() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def cli_env(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_PG_DSN", dsn)
    for name in ("RECONCILER_STATE_BACKEND", "RECONCILER_STATE_STACK"):
        monkeypatch.delenv(name, raising=False)


def rows(db: psycopg.Connection[Any], stack: str) -> dict[str, str]:
    result = db.execute("SELECT address, remote_id FROM reconciler_state WHERE stack = %s", (stack,))
    return dict(result.fetchall())


def write_stack(folder: Path, stack: str | None, cores: list[str]) -> Path:
    doc: dict[str, Any] = {"version": 1}
    if stack is not None:
        doc["state"] = {"backend": "postgres", "dsn": "${env:RECONCILER_PG_DSN}", "stack": stack}
    doc["cores"] = {name: dict(CORE) for name in cores}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def take(store: PostgresStateStore, timeout: float) -> None:
    with store.lock("apply", timeout=timeout):
        pytest.fail("took a lock another process holds")


def entry(remote_id: str, name: str) -> StateEntry:
    return StateEntry("cores", remote_id, (name,), "sha256:" + name, provider_data={"n": 1})


# --- the store -----------------------------------------------------------------------------------


def test_record_read_remove_round_trip_with_rows_isolated_per_stack(dsn: str, stack: str) -> None:
    mine, other = PostgresStateStore(dsn, stack), PostgresStateStore(dsn, stack + "-other")
    try:
        asyncio.run(mine.record("cores.a", entry("cor_1", "a")))
        asyncio.run(mine.record("cores.b", entry("cor_2", "b")))
        asyncio.run(other.record("cores.a", entry("cor_9", "a")))
        asyncio.run(mine.record("cores.a", entry("cor_3", "a")))  # an update replaces the row

        fresh = PostgresStateStore(dsn, stack)  # a new process's view: only what was committed
        assert fresh.read().entries == {"cores.a": entry("cor_3", "a"), "cores.b": entry("cor_2", "b")}
        assert other.read().entries == {"cores.a": entry("cor_9", "a")}

        asyncio.run(mine.record("cores.a", None))
        asyncio.run(mine.record("cores.never", None))  # removing an absent address is not an error
        assert set(fresh.read().entries) == {"cores.b"}
        assert other.read().get("cores.a") == entry("cor_9", "a")
        fresh.close()
    finally:
        mine.close()
        other.close()


def test_concurrent_records_of_one_apply_all_land(dsn: str, stack: str) -> None:
    store = PostgresStateStore(dsn, stack)

    async def record_all() -> None:
        await asyncio.gather(*(store.record(f"cores.c{i}", entry(f"cor_{i}", f"c{i}")) for i in range(40)))

    asyncio.run(record_all())
    assert len(PostgresStateStore(dsn, stack).read().entries) == 40
    store.close()


def test_advisory_lock_is_released_when_the_holder_is_sigkilled(dsn: str, stack: str) -> None:
    script = (
        "import os, sys, time\n"
        "from reconciler.state.postgres import PostgresStateStore\n"
        "with PostgresStateStore(os.environ['PG_DSN'], sys.argv[1]).lock('apply'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, stack],
        env={**os.environ, "PG_DSN": dsn},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        store = PostgresStateStore(dsn, stack)
        with pytest.raises(LockHeld, match=rf"state is locked by pid {holder.pid} on {HOST} \(apply, since "):
            take(store, timeout=0)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with store.lock("apply", timeout=10):  # the server ends the dead session and its lock
            pass
        store.close()
    finally:
        holder.kill()
        holder.wait(timeout=10)


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_cli_state_commands_on_postgres(
    tmp_path: Path, stack: str, start_sandbox: StartSandbox, run_cli: RunCli, db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = start_sandbox()
    folder = write_stack(tmp_path / "stack", stack, ["alpha", "beta"])
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0, result
    recorded = rows(db, stack)
    assert set(recorded) == {"cores.alpha", "cores.beta"}
    assert set(recorded.values()) == sandbox.api.ids("cores")
    assert not (folder / ".reconciler" / "state.json").exists()

    listed = run_cli("state", "list", "-f", folder)
    assert listed.exit_code == 0 and listed.stdout.splitlines() == [
        f"cores.alpha\t{recorded['cores.alpha']}",
        f"cores.beta\t{recorded['cores.beta']}",
    ]
    shown = run_cli("state", "show", "-f", folder, "cores.alpha").json()
    assert shown["remote_id"] == recorded["cores.alpha"] and shown["key"] == ["alpha"]

    removed = run_cli("state", "rm", "--lock-timeout", "5", "-f", folder, "cores.alpha")
    assert removed.exit_code == 0, removed
    assert set(rows(db, stack)) == {"cores.beta"}
    assert recorded["cores.alpha"] in sandbox.api.ids("cores")  # the live object is left alone
    missing = run_cli("state", "show", "-f", folder, "cores.alpha")
    assert missing.exit_code == 1 and "cores.alpha is not in state" in missing.stderr

    # Chosen by environment, with no state: section in the stack: the same rows.
    monkeypatch.setenv("RECONCILER_STATE_BACKEND", "postgres")
    monkeypatch.setenv("RECONCILER_STATE_STACK", stack)
    by_env = run_cli("state", "list", "-f", write_stack(tmp_path / "plain", None, ["beta"]))
    assert by_env.stdout.splitlines() == [f"cores.beta\t{recorded['cores.beta']}"]


@pytest.mark.usefixtures("cli_env")
def test_sandbox_runs_never_touch_the_shared_state(
    tmp_path: Path, stack: str, run_cli: RunCli, db: Any
) -> None:
    folder = write_stack(tmp_path / "stack", stack, ["alpha"])
    result = run_cli("apply", "--sandbox", "--auto-approve", "-f", folder)
    assert result.exit_code == 0, result
    assert rows(db, stack) == {}
    assert run_cli("state", "list", "--sandbox", "-f", folder).stdout.startswith("cores.alpha\t")


@pytest.mark.usefixtures("cli_env")
def test_two_concurrent_applies_never_both_run(
    tmp_path: Path, stack: str, start_sandbox: StartSandbox, db: Any
) -> None:
    gate = Gate(allow=0)
    sandbox = start_sandbox(wrap=gate.wrap)
    folder = write_stack(tmp_path / "stack", stack, ["alpha", "beta"])
    first = spawn("apply", "--auto-approve", "--parallelism", "1", "-f", folder)
    procs = [first]
    try:
        poll(lambda: gate.held >= 1 or first.poll() is not None, "the first apply to reach its first create")
        assert first.poll() is None, finish(first)

        started = time.monotonic()
        code, out, err = finish(spawn("apply", "--auto-approve", "--lock-timeout", "1", "-f", folder))
        assert code == 1, (out, err)
        assert f"state is locked by pid {first.pid} on {HOST} (apply, since " in err
        assert "waited 1s" in err and time.monotonic() - started >= 1.0
        assert gate.held == 1 and gate.passed == 0  # the refused run made no call at all

        third = spawn("apply", "--auto-approve", "--lock-timeout", "60", "-f", folder)
        procs.append(third)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # it must still be waiting while the first holds the lock
            assert third.poll() is None, finish(third)
            time.sleep(0.05)
        gate.open()
        code, out, err = finish(first)
        assert code == 0, (out, err)
        code, out, err = finish(third)
        assert code == 0, (out, err)
        assert "No changes." in out  # it planned only after the first had recorded everything
    finally:
        gate.open()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert set(rows(db, stack)) == {"cores.alpha", "cores.beta"}
    assert set(sandbox.api.key_counts("cores").values()) == {1}
    assert db.execute("SELECT count(*) FROM reconciler_locks WHERE stack = %s", (stack,)).fetchone() == (0,)


@pytest.mark.usefixtures("cli_env")
def test_a_kill_mid_apply_loses_nothing_already_recorded(
    tmp_path: Path, stack: str, start_sandbox: StartSandbox, run_cli: RunCli, db: Any
) -> None:
    names = ["c1", "c2", "c3", "c4"]
    gate = Gate(allow=2)
    sandbox = start_sandbox(wrap=gate.wrap)
    folder = write_stack(tmp_path / "stack", stack, names)
    proc = spawn("apply", "--auto-approve", "--parallelism", "1", "-f", folder)
    try:
        poll(lambda: gate.held >= 1 or proc.poll() is not None, "the third create to be held")
        poll(lambda: len(rows(db, stack)) == 2 or proc.poll() is not None, "two creates to be recorded")
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        gate.open(reject_held=True)  # the held create never lands: its client is dead
        if proc.poll() is None:
            proc.kill()
    recorded = rows(db, stack)
    assert len(recorded) == 2 and set(recorded.values()) == sandbox.api.ids("cores")

    gate.allow = 10**6
    rerun = run_cli("apply", "--auto-approve", "--lock-timeout", "10", "-f", folder)  # the lock died with it
    assert rerun.exit_code == 0, rerun
    final = rows(db, stack)
    assert {a: final[a] for a in recorded} == recorded  # nothing recorded before the kill was redone
    assert set(final) == {f"cores.{n}" for n in names}
    assert set(final.values()) == sandbox.api.ids("cores")
    assert set(sandbox.api.key_counts("cores").values()) == {1}


@pytest.mark.usefixtures("cli_env")
def test_the_dsn_password_never_appears_in_any_output(
    tmp_path: Path, dsn: str, stack: str, start_sandbox: StartSandbox, run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    password = str(psycopg.conninfo.conninfo_to_dict(dsn)["password"])
    assert len(password) >= 8
    start_sandbox()
    folder = write_stack(tmp_path / "stack", stack, ["alpha"])
    outputs = [run_cli(*args, "-f", folder).output for args in (
        ("plan",), ("apply", "--auto-approve"), ("drift",), ("state", "list"),
    )]  # fmt: skip
    outputs.append(run_cli("state", "show", "-f", folder, "cores.alpha").output)
    with PostgresStateStore(dsn, stack).lock("apply"):
        held = run_cli("apply", "--auto-approve", "-f", folder)
    assert held.exit_code == 1 and "state is locked by pid" in held.stderr
    outputs.append(held.output)

    wrong = "Wr0ng-pa55word-for-this-test"
    bad_dsns = [
        dsn.replace(f":{password}@", f":{wrong}@"),  # refused by the server
        f"postgresql://reconciler:{wrong}@127.0.0.1:1/reconciler_test",  # nobody listening
        f"postgresql://reconciler:{wrong}@127.0.0.1:1/db?bogus_option=1",  # does not parse
        f"host=127.0.0.1 password='{wrong}' no-equals-sign",  # does not parse either
    ]
    for bad in bad_dsns:
        monkeypatch.setenv("RECONCILER_PG_DSN", bad)
        for args in (("plan",), ("state", "list")):
            result = run_cli(*args, "-f", folder)
            assert result.exit_code == 1 and "PostgreSQL state" in result.stderr, result
            outputs.append(result.output)
        debug = spawn("--debug", "plan", "-f", folder)  # tracebacks too (own process: --debug logging)
        code, out, err = finish(debug)
        assert code == 1
        outputs.append(out + err)
    for text in outputs:
        assert password not in text and wrong not in text, text


def test_a_broken_dsn_is_a_state_error_without_the_secret() -> None:
    store = PostgresStateStore("postgresql://u:s3cr3t-value@127.0.0.1:1/db?connect_timeout=2", "x")
    with pytest.raises(StateError) as caught:
        store.read()
    assert "s3cr3t-value" not in str(caught.value) and caught.value.__cause__ is None
    assert "127.0.0.1:1/db" in store.description


def test_a_dropped_lock_session_stops_the_next_write(dsn: str, stack: str, db: Any) -> None:
    """The advisory lock lives on its own session: when that session ends mid-apply, the server has
    let go of the lock, so the next write (and the next action's check) stops with LockLost."""
    store = PostgresStateStore(dsn, stack)
    try:
        with store.lock("apply"):
            asyncio.run(store.record("cores.a", entry("cor_1", "a")))
            asyncio.run(store.fence())  # held: no error
            (backend,) = db.execute(
                "SELECT backend_pid FROM reconciler_locks WHERE stack = %s", (stack,)
            ).fetchone()
            db.execute("SELECT pg_terminate_backend(%s)", (backend,))
            alive = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
            poll(lambda: not db.execute(alive, (backend,)).fetchone(), "the lock's session to end")
            with pytest.raises(LockLost, match=f"backend pid {backend}\\) has ended; stopped before"):
                asyncio.run(store.record("cores.b", entry("cor_2", "b")))
            with pytest.raises(LockLost):
                asyncio.run(store.fence())
    finally:
        store.close()
    assert rows(db, stack) == {"cores.a": "cor_1"}


@pytest.mark.usefixtures("cli_env")
def test_an_apply_whose_lock_session_drops_stops_and_says_what_it_did(
    tmp_path: Path, stack: str, start_sandbox: StartSandbox, run_cli: RunCli, db: Any
) -> None:
    gate = Gate(allow=0)
    sandbox = start_sandbox(wrap=gate.wrap)
    folder = write_stack(tmp_path / "stack", stack, ["c1", "c2", "c3"])
    proc = spawn("apply", "--auto-approve", "--parallelism", "1", "-f", folder)
    try:
        poll(lambda: gate.held >= 1 or proc.poll() is not None, "the first create to be held")
        holder = "SELECT backend_pid FROM reconciler_locks WHERE stack = %s"
        (backend,) = db.execute(holder, (stack,)).fetchone()
        db.execute("SELECT pg_terminate_backend(%s)", (backend,))
        alive = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
        poll(lambda: not db.execute(alive, (backend,)).fetchone(), "the lock's session to end")
        gate.open()
        code, out, err = finish(proc)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert code == 1, (out, err)
    (made,) = sandbox.api.ids("cores")  # the create in flight landed; nothing new started after
    assert "lost the state lock" in out and f"[id={made}]" in out, out
    assert "1 more done on the API but NOT recorded in state" in out and "not started" in out
    assert rows(db, stack) == {}

    rerun = run_cli("apply", "--auto-approve", "-f", folder)
    assert rerun.exit_code == 0, rerun
    assert set(rows(db, stack)) == {"cores.c1", "cores.c2", "cores.c3"} and made in rows(db, stack).values()
    assert set(sandbox.api.key_counts("cores").values()) == {1}
