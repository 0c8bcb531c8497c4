"""Ctrl-C during apply (issue 28): a real SIGINT to the installed script while creates are in flight
over a slow API. It says what was in flight and that running apply again is safe, and running it
again is safe: it converges, and no object is made twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import RECONCILER_BIN, RunCli
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE, StackDir


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_says_what_was_in_flight_and_running_again_converges(
    stack_dir: StackDir, start_sandbox: StartSandbox, run_cli: RunCli, tmp_path: Path
) -> None:
    sandbox = start_sandbox(latency_ms=1500)  # each call takes 1.5 s: the creates are in flight long
    names = [f"c{i}" for i in range(4)]
    stack_dir.write(cores={n: {**CORE, "precision": 64 + i} for i, n in enumerate(names)})
    proc = subprocess.Popen(
        [str(RECONCILER_BIN), "apply", "--auto-approve", "--parallelism", "2", "-f", str(stack_dir.path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        # As at a terminal: SIGINT at its default action, even when this suite runs as a background
        # job of a non-interactive shell (.ci/run's second suite), which starts with SIGINT ignored.
        preexec_fn=_sigint_as_at_a_terminal,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.endswith("creating…\n"):
            break
    else:
        raise AssertionError(f"no create started: {seen}")
    time.sleep(0.3)  # the create is now waiting on the API
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 1, (out, err)
    lines = err.splitlines()
    assert lines[0].startswith("Error: interrupted during apply: "), err
    assert "In flight when interrupted (whether the API finished them is read back next run):" in lines
    in_flight = [line.strip().split(":")[0] for line in lines if line.startswith("  cores.")]
    assert in_flight and set(in_flight) <= {f"cores.{n}" for n in names}, err
    assert lines[-1].startswith("Running `reconciler apply` again is safe"), err
    assert "Traceback" not in err

    again = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert again.exit_code == 0, again
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0  # converged
    made = [c["Name"] for c in sandbox.api.objects("cores")]
    assert sorted(made) == names  # none made twice
