"""Apply progress as a person at a terminal sees it (a real pseudo-terminal): one live bar per kind
and a total, the final ``[n/N]`` status, no per-action lines; with --verbose, or in a pipe (a CI
log), one line per start and end, each end counted."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import yaml

from tests.support.cli import RECONCILER_BIN

CORE = {"class": "C0", "microarchitecture": "Athens", "precision": 128, "memory_size": 256000,
        "correlation_tracking": "Autocorrelation"}  # fmt: skip
HOOK = {"events": ["task-status"], "description": "d", "status": "active"}


def stack(folder: Path) -> Path:
    folder.mkdir(parents=True)
    doc = {
        "version": 1,
        "cores": {f"c{i}": CORE for i in range(12)},
        "webhooks": {f"h{i}": {"url": f"https://hooks.example.com/{i}", **HOOK} for i in range(8)},
    }
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


def environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return env | {"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}


def in_a_terminal(*args: str | Path) -> str:
    """Run the CLI with a pseudo-terminal as its stdout and stderr; everything it wrote."""
    main, side = pty.openpty()
    proc = subprocess.Popen([RECONCILER_BIN, *map(str, args)], stdin=subprocess.DEVNULL, stdout=side,
                            stderr=side, env=environ())  # fmt: skip
    os.close(side)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        assert ready, "no output for 60 s"
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_live_bars_per_kind(tmp_path: Path) -> None:
    folder = stack(tmp_path / "s")
    out = in_a_terminal("apply", "--sandbox", "--auto-approve", "-f", folder)
    assert "Apply complete! Resources: 20 added" in out
    final = out.rsplit("cores", 1)[1]  # the last redraw of the bars
    assert "12/12" in final and "8/8" in final and "20/20" in final and "[20/20]" in final
    assert ": creating…" not in out and ": created in " not in out  # no wall of lines


def test_verbose_at_a_terminal_and_a_pipe_get_the_log(tmp_path: Path) -> None:
    folder = stack(tmp_path / "s")
    out = in_a_terminal("apply", "--sandbox", "--auto-approve", "--verbose", "-f", folder)
    assert out.count(": creating…") == 20 and out.count(": created in ") == 20
    assert "[20/20 at 0:0" in out
    assert run_piped("destroy", "--sandbox", "--auto-approve", "-f", folder).count(": destroyed in ") == 20


def run_piped(*args: str | Path) -> str:
    done = subprocess.run([RECONCILER_BIN, *map(str, args)], capture_output=True, text=True, env=environ(),
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done
    ends = [line for line in done.stdout.splitlines() if ": destroyed in " in line]
    assert sorted(int(line.rsplit("[", 1)[1].split("/")[0]) for line in ends) == list(range(1, 21))
    return done.stdout
