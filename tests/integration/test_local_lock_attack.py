"""The attack of issue 18, item 1, over the emulators on a loopback port: while one apply is
mid-run (its creates held by a gate), the lock file is removed; a second apply must be refused,
and when both are done every core exists once."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.conftest import CORE, StartSandbox
from tests.support.gate import Gate, finish, poll, spawn

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
        assert "state is locked by another process" in err and "is missing" in err, err
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
