"""The CLI's result as the integration tests see it (``run_cli`` and ``run_cli_process`` fixtures)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RECONCILER_BIN", "CliResult", "RunCli"]

RECONCILER_BIN = Path(sys.executable).with_name("reconciler")


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown by pytest when an assertion on the result fails
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


RunCli = Callable[..., CliResult]
