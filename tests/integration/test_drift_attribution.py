"""Drift is named per field, even when the YAML changed too (CLI against the emulator on loopback).

Apply a core; then edit ``precision`` in the YAML while ``memory_size`` is changed on the API
behind reconciler's back. ``drift --format json`` holds one update whose fields carry ``config`` and
``drift``, and text and Markdown list the out-of-band edit in a section of its own.
"""

from __future__ import annotations

from tests.support.cli import RunCli
from tests.support.signaloid import CORE, SignaloidApi, StackDir


def test_a_yaml_edit_and_an_out_of_band_edit_in_one_change(
    api: SignaloidApi, stack_dir: StackDir, run_cli: RunCli
) -> None:
    stack_dir.write(cores={"fast": CORE})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    (core,) = api.objects("cores")
    body = {k: core[k] for k in ("Name", "Class", "Microarchitecture", "Precision", "CorrelationTracking")}
    moved = api.client.patch(f"/cores/{core['CoreID']}", json={**body, "MemorySize": 512000})
    assert moved.status_code == 200
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}})

    result = run_cli("drift", "--format", "json", "-f", stack_dir.path)
    assert result.exit_code == 2, result
    (change,) = [c for c in result.json()["changes"] if c["pending"]]
    assert change["causes"] == ["config", "drift"] and change["cause"] == "config"
    causes = {f["path"]: f["cause"] for f in change["fields"]}
    assert causes == {"precision": "config", "memory_size": "drift"}

    text = run_cli("drift", "-f", stack_dir.path).stdout
    outside, _, actions = text.partition("Drift report: live state differs")
    assert "Changed outside reconciler since it last applied (drift)" in outside
    assert "memory_size = 256000 → 512000" in outside and "precision" not in outside
    assert "also changed outside reconciler: memory_size" in actions
    markdown = run_cli("plan", "--format", "markdown", "-f", stack_dir.path).stdout
    assert "| `cores.fast` | `memory_size` | `256000` | `512000` |" in markdown

    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert run_cli("drift", "-f", stack_dir.path).exit_code == 0
    api.client.patch(f"/cores/{core['CoreID']}", json={**body, "Precision": 64, "MemorySize": 256000})
    result = run_cli("drift", "--format", "json", "-f", stack_dir.path)
    (change,) = [c for c in result.json()["changes"] if c["pending"]]
    assert change["causes"] == ["drift"], change  # the re-applied YAML is the new baseline
