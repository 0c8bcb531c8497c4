"""``reconciler watch`` as a real process for the integration tests: its JSON log lines (one per
check and per transition) collected as they come, its bound address, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import RECONCILER_BIN

__all__ = ["WatchProcess", "metric", "running_watch", "set_watch"]


class WatchProcess:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self.url = ""  # http://HOST:PORT once it listens
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.endswith("\n") and line.strip():  # a line cut short by kill -9 is not one
                self.lines.append(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("Listening on "):
                self.url = line.split()[2].rstrip("/")

    def events(self, kind: str, stack: str | None = None) -> list[dict[str, Any]]:
        """Log lines of one kind: ``checked`` (one per check) or a transition (``healed``, …)."""
        return [
            line
            for line in list(self.lines)
            if (line["event"] == kind or line.get("transition") == kind)
            and (stack is None or line.get("stack") == stack)
        ]

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"watch exited {self.proc.returncode} waiting for {what}: {self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return "".join(self.stderr[-40:])

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._out.join(5)
        self._err.join(5)
        return code


@contextmanager
def running_watch(
    *args: str | os.PathLike[str], env: Mapping[str, str] | None = None, listen: str = "127.0.0.1:0"
) -> Iterator[WatchProcess]:
    """``reconciler watch ARGS --log-format json --listen LISTEN``, killed after if still running."""
    command = [str(RECONCILER_BIN), "watch", *map(str, args), "--log-format", "json", "--listen", listen]
    environ = {**os.environ, **(env or {}), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
    )
    watch = WatchProcess(proc)
    try:
        if listen != "off":
            watch.wait_for(lambda: watch.url, "the watch to listen", timeout=30)
        yield watch
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def set_watch(folder: Path, **settings: Any) -> None:
    """Write a ``watch:`` section into the stack file of ``folder``."""
    path = folder / "stack.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["watch"] = settings
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text page (AssertionError if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")
