"""Kill a running `reconciler apply` at a chosen point of its progress output (SIGKILL, no clean-up)."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import time

PROGRESS = re.compile(rb"^[a-z_]+\.[A-Za-z0-9_.-]+: ")


def apply_and_kill(command: list[str], env: dict[str, str], events: int, delay_s: float) -> tuple[int, bool]:
    """Start apply; after ``events`` progress lines and ``delay_s`` more, SIGKILL it.
    Returns (pid, whether it was still running when killed)."""
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    seen, deadline, kill_at = 0, time.monotonic() + 60, None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if seen >= events and kill_at is None:
                    kill_at = time.monotonic() + delay_s
                now = time.monotonic()
                if kill_at is not None and now >= kill_at:
                    break
                wait = (kill_at - now) if kill_at is not None else deadline - now
                if not selector.select(wait):
                    continue
                line = proc.stdout.readline()
                if not line:
                    break  # it finished before the kill point
                if PROGRESS.match(line):  # "cores.k-core-3: creating…" / "…: created in 0.1s [id=…]"
                    seen += 1
        running = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    return proc.pid, running
