"""The attack of issue 18, item 1, over the emulators on a loopback port: while one apply is
mid-run (its creates held by a gate), the lock file is removed; a second apply must be refused,
and when both are done every core exists once."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.gate import Gate, finish, poll, spawn
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE

NAMES = [f"c{i}" for i in range(6)]


def test_removing_the_lock_file_mid_apply_never_lets_a_second_apply_run(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    gate = Gate(allow=0)
    sandbox = start_sandbox(wrap=gate.wrap)
    folder = tmp_path / "stack"
    folder.mkdir()
    doc = {"version": 1, "cores": {name: dict(CORE) for name in NAMES}}
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    lock_file = folder / ".reconciler" / "state.json.lock"

    first = spawn("apply", "--auto-approve", "-f", folder)
    try:
        poll(lambda: gate.held >= 1 or first.poll() is not None, "the first apply to reach its creates")
        assert first.poll() is None, finish(first)
        lock_file.unlink()

        code, out, err = finish(spawn("apply", "--auto-approve", "-f", folder))
        assert code == 1, (out, err)
        # Named from the lock file if the first apply has put it back already (it does so before
        # each action and write), else said to be missing: refused either way.
        assert f"state is locked by pid {first.pid} " in err or (
            "state is locked by another process" in err and "is missing" in err
        ), err
        gate.open()
        code, out, err = finish(first)
        assert code == 0, (out, err)
    finally:
        gate.open()
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    assert set(sandbox.api.key_counts("cores").values()) == {1}
    assert len(sandbox.api.ids("cores")) == len(NAMES)
    assert not lock_file.exists()


def test_a_state_write_failing_mid_apply_reports_what_was_created(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    """Issue 18, item 11: the summary said "0 added" and "State records everything that was done"
    while cores had been created. Now each is listed with its id, and a re-run adopts them."""
    gate = Gate(allow=0)
    sandbox = start_sandbox(wrap=gate.wrap)
    folder = tmp_path / "stack"
    folder.mkdir()
    doc = {"version": 1, "cores": {name: dict(CORE) for name in ("a", "b")}}
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    state = folder / ".reconciler" / "state.json"

    first = spawn("apply", "--auto-approve", "--parallelism", "2", "-f", folder)
    try:
        poll(lambda: gate.held >= 2 or first.poll() is not None, "both creates to be sent")
        state.mkdir()  # the state file can no longer be replaced: every write fails
        gate.open()
        code, out, err = finish(first)
    finally:
        gate.open()
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    assert code == 1, (out, err)
    made = sandbox.api.ids("cores")
    assert len(made) == 2
    assert "0 added" in out and "2 more done on the API but NOT recorded in state" in out, out
    assert all(f"[id={core_id}]" in out for core_id in made), out
    assert "State does NOT record the 2 changes" in out and "State records everything" not in out

    state.rmdir()
    code, out, err = finish(spawn("apply", "--auto-approve", "-f", folder))
    assert code == 0, (out, err)
    assert sandbox.api.ids("cores") == made  # adopted by natural key, not created again
