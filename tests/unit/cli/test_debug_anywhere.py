"""``--debug`` is accepted before or after the command, on every command, and as RECONCILER_DEBUG=1.

Run in a subprocess: --debug sets up process-wide logging, which must not leak into other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TYPO = "version: 1\ncores:\n  c:\n    class: C0\n    microarchitecture: Athens\n    precison: 128\n"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RECONCILER_DEBUG"} | env
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        capture_output=True, text=True, env=environ, timeout=60,
    )  # fmt: skip


@pytest.fixture
def bad_stack(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(TYPO)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "validate", "-f", "{f}"],
        ["validate", "--debug", "-f", "{f}"],
        ["validate", "-f", "{f}", "--debug"],
    ],
    ids=["before", "after-command", "at-the-end"],
)
def test_debug_shows_the_traceback_wherever_it_is_written(bad_stack: Path, args: list[str]) -> None:
    result = _run([a.format(f=bad_stack) for a in args])
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_debug_from_the_environment(bad_stack: Path) -> None:
    result = _run(["validate", "-f", str(bad_stack)], RECONCILER_DEBUG="1")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_without_debug_one_message_and_no_traceback(bad_stack: Path) -> None:
    result = _run(["validate", "-f", str(bad_stack)], RECONCILER_DEBUG="0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ")


def test_debug_on_a_nested_command(tmp_path: Path) -> None:
    result = _run(["state", "list", "--debug", "-f", str(tmp_path)])  # a folder without a stack
    assert result.returncode == 1 and "Traceback" in result.stderr and "no *.yaml" in result.stderr
