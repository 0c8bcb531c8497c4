"""Issue 30: policies fail closed. A policy that cannot be read, parsed or run, an empty folder, a
namespace without rules, a result of the wrong shape, an engine crash, a loop, an allocation
without end: each is one error naming the file (and line) or the policy, exit 1, never a pass,
and the command's own process is unharmed (the next command in it works). The CLI in process,
on the in-process sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import RunCli

CRASH = """package main

import rego.v1

d := upper(input.a)

deny contains "never" if false

test_a if {
	d == "A" with input as {"a": "a"}
}
"""
LOOP = """package main

import rego.v1

deny contains "x" if {
	some a in numbers.range(1, 100000)
	some b in numbers.range(1, 100000)
	a * b == -1
}
"""
GREEDY = """package main

import rego.v1

deny contains "x" if {
	count(numbers.range(1, 10000000000)) == 0
}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "stack.yaml").write_text(
        "version: 1\ncores:\n  scratch: {class: C0, microarchitecture: Athens, precision: 128,\n"
        "            memory_size: 256000, correlation_tracking: Autocorrelation}\n",
        encoding="utf-8",
    )
    return folder


def _policy(tmp_path: Path, text: str, name: str = "policy.rego") -> Path:
    folder = tmp_path / "policy"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


BROKEN = [
    (
        "package main\n\ndeny contains msg if {\n  msg := \n}\n",
        "policy/policy.rego:4:7: Invalid assignment operator",
    ),
    (
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  n := 1 / count(input.unmanaged)\n"
        '  msg := sprintf("%v", [n])\n}\n',
        "policy/policy.rego:5: rule deny failed: divide by zero",
    ),
    (
        'package main\n\nimport rego.v1\n\nwarn contains msg if {\n  msg := concat(",", input.summary)\n}\n',
        "policy/policy.rego:5: rule warn failed: concat: operand 2 must be one of {array, set}",
    ),
    (
        "package main\n\nallow := true\n",
        "policy/policy.rego:1: package main has no deny, violation or warn rule",
    ),
    ('package checks\n\ndeny contains "x" if true\n', "no policy file is in package main"),
    ('package main\n\ndeny[msg] {\n  msg := "x"\n}\n', "policy/policy.rego:3: rule deny is an object"),
    ('package main\n\ndeny contains {"message": "x"} if true\n', "each message is a string or an object"),
    ("deny contains 1 if true\n", "policy/policy.rego:1: a Rego file starts with its package"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN, ids=[b[1].split(": ", 1)[-1][:30] for b in BROKEN])
def test_a_broken_policy_is_an_error_naming_file_and_line(
    run_cli: RunCli, stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    folder = _policy(tmp_path, text)
    monkeypatch.chdir(tmp_path)  # messages name the policy as given: relative here
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", "policy")
    assert result.exit_code == 1, result
    assert expected in result.stderr, result
    assert "Plan:" not in result.stdout and folder.exists()


def test_an_empty_folder_and_a_missing_path_are_errors(run_cli: RunCli, stack: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("not a policy", encoding="utf-8")
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", empty)
    assert result.exit_code == 1 and "no policy files in this folder" in result.stderr, result
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", tmp_path / "nowhere")
    assert result.exit_code == 1 and "No such file or directory" in result.stderr, result


def test_a_fifo_is_refused_without_blocking(run_cli: RunCli, stack: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "policy.rego"
    os.mkfifo(fifo)
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", fifo)
    assert result.exit_code == 1 and "not a regular file" in result.stderr, result


def test_a_binary_file_is_refused(run_cli: RunCli, stack: Path, tmp_path: Path) -> None:
    binary = tmp_path / "policy.rego"
    binary.write_bytes(b"package main\n\x00\x01")
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", binary)
    assert result.exit_code == 1 and "a binary file" in result.stderr, result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CRASH, "the policy engine crashed (SIGSEGV)"),
        (LOOP, "limit (2 s)"),
        (GREEDY, "the engine ran out of its memory limit (256 MiB)"),
    ],  # the time limit is 2 s, but 30 s for the allocation: filling 256 MiB takes a while on a busy host
    ids=["segfault", "loop", "allocation"],
)
def test_an_engine_crash_loop_or_allocation_is_one_clean_error(
    run_cli: RunCli, stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.setenv("RECONCILER_POLICY_TIMEOUT", "30" if text is GREEDY else "2")
    monkeypatch.setenv("RECONCILER_POLICY_MEMORY_MIB", "256")
    folder = _policy(tmp_path, text)
    result = run_cli("plan", "--sandbox", "-f", stack, "--policy", folder)
    assert result.exit_code == 1, result
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: policy {folder.as_posix()}: "), line
    assert expected in line and "the plan was not judged" in line
    # The command's process is unharmed: the next command in it runs (and plans) as usual.
    assert run_cli("plan", "--sandbox", "-f", stack, "--detailed-exitcode").exit_code == 2


def test_no_engine_without_policies_and_never_in_the_commands_process(stack: Path, tmp_path: Path) -> None:
    """A plan without policies imports nothing of the engine nor of its runner (only the stack's
    ``policy:`` settings model); with policies, regopy is loaded in the engine's own process only."""
    policy = _policy(tmp_path, 'package main\n\nimport rego.v1\n\nwarn contains "w" if true\n')
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from reconciler.cli import main\n"
        "args = sys.argv[1:]\n"
        "result = CliRunner().invoke(main, args)\n"
        "engine = ('regopy', 'reconciler.policy.isolate', 'reconciler.policy.evaluate')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(engine))\n"
        "print(result.exit_code, loaded)\n"
    )
    plain = [sys.executable, "-c", code, "plan", "--sandbox", "-f", str(stack)]
    assert subprocess.run(plain, capture_output=True, text=True, check=True).stdout.strip() == "0 []"
    gated = subprocess.run([*plain, "--policy", str(policy)], capture_output=True, text=True, check=True)
    exit_code, loaded = gated.stdout.strip().split(" ", 1)
    assert exit_code == "0" and "regopy" not in loaded and "reconciler.policy.isolate" in loaded
