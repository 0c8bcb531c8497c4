"""Issue 17: an apply against an API that throttles (429 + Retry-After) and sheds load (503) completes
with every action done, its calls adapting to the limits: against `reconciler sandbox serve
--rate-limit --max-inflight` over a real socket, and against `--sandbox` with the same limits
from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support.cli import RECONCILER_BIN
from tests.support.servers import closed_port
from tests.support.signaloid import CORE, StackDir

CORES = 40
CALLS = re.compile(r"^  signaloid: (?P<requests>\d+) requests?, (?P<retries>\d+) retr(?:y|ies), "
                   r"(?P<limited>\d+) rate-limited \(429\)$", re.MULTILINE)  # fmt: skip


def run(env: dict[str, str], *args: str | Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RECONCILER_BIN), *map(str, args)],
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`reconciler sandbox serve --rate-limit 20 --max-inflight 4` on a loopback port (20 ms per call,
    so that calls overlap there)."""
    port = closed_port()
    cmd = [str(RECONCILER_BIN), "sandbox", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen(
        [*cmd, "--latency-ms", "20", "--rate-limit", "20", "--max-inflight", "4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
            try:
                httpx2.get(f"{base}/signaloid/health", timeout=1)
                break
            except httpx2.HTTPError:
                assert time.monotonic() < deadline, "sandbox serve did not start"
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def many_cores(stack: StackDir) -> None:
    stack.write(cores={f"c{i}": CORE for i in range(CORES)})


def test_apply_against_served_limits_completes_and_converges(served: str, stack_dir: StackDir) -> None:
    env = {**os.environ, "SIGNALOID_API_URL": f"{served}/signaloid", "SIGNALOID_API_KEY": "k"}
    many_cores(stack_dir)
    applied = run(env, "apply", "--auto-approve", "-f", stack_dir.path)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert f"{CORES} added" in applied.stdout
    calls = CALLS.search(applied.stdout)
    assert calls is not None, applied.stdout
    assert int(calls["limited"]) > 0, "the rate limit was never reached: the test tests nothing"
    assert int(calls["retries"]) > int(calls["limited"]), "no 503 (over --max-inflight) was retried"
    assert len(stack_dir.state()) == CORES
    # Nothing left to do; a duplicate core (a retried create that had landed) would be an error here.
    again = run(env, "plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_sandbox_flag_takes_the_limits_from_the_environment(stack_dir: StackDir) -> None:
    env = {**os.environ, "RECONCILER_SANDBOX_RATE_LIMIT": "20", "RECONCILER_SANDBOX_MAX_INFLIGHT": "4"}
    many_cores(stack_dir)
    applied = run(env, "apply", "--sandbox", "--auto-approve", "-f", stack_dir.path)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    calls = CALLS.search(applied.stdout)
    assert calls is not None and int(calls["limited"]) > 0, applied.stdout
    bad = run({**env, "RECONCILER_SANDBOX_RATE_LIMIT": "lots"}, "plan", "--sandbox", "-f", stack_dir.path)
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("$RECONCILER_SANDBOX_RATE_LIMIT: expected a number of requests per "
                                       "second > 0, got 'lots'"), bad.stderr  # fmt: skip
    assert "Traceback" not in bad.stderr
