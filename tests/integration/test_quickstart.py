"""The README quickstart, exactly as written, run by the installed console script in a fresh copy of
examples/quickstart: no account, no server, no environment variables."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import CliResult, RunCli
from tests.support.examples import pristine_example

ROOT = Path(__file__).resolve().parents[2]
APPLY = "reconciler apply --sandbox --auto-approve -f examples/quickstart"
PLAN = "reconciler plan --sandbox -f examples/quickstart --detailed-exitcode"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding ``examples/quickstart`` as shipped (without any local sandbox data)."""
    pristine_example("quickstart", tmp_path)  # as shipped: not the copy the README asks to edit
    for name in ("SIGNALOID_API_KEY", "SIGNALOID_API_URL", "STEAMSHIP_API_KEY", "STEAMSHIP_API_BASE"):
        monkeypatch.delenv(name, raising=False)  # a new user has none of these
    return tmp_path


def test_the_readme_shows_these_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert APPLY in readme and PLAN in readme
    assert "precision: 256" in readme


def test_quickstart_as_written(
    workdir: Path, run_cli_process: Callable[..., CliResult], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)

    def run(command: str, in_process: bool = False) -> CliResult:
        """The installed script in a subprocess (the first time each command is typed), else in process."""
        program, *args = shlex.split(command)
        assert program == "reconciler"
        return run_cli(*args) if in_process else run_cli_process(*args, cwd=workdir)

    first = run(APPLY)
    assert first.exit_code == 0, first
    assert "Apply complete! Resources: 4 added, 0 changed, 0 replaced, 0 destroyed." in first.stdout
    assert first.stderr == "", first

    again = run(APPLY, in_process=True)  # "Run it again ...: nothing to do"
    assert again.exit_code == 0 and "No changes." in again.stdout, again
    plan = run(PLAN)
    assert plan.exit_code == 0, plan
    assert "No changes." in plan.stdout

    stack = workdir / "examples" / "quickstart" / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    assert len(re.findall(r"^    precision: 128$", text, flags=re.M)) == 1
    stack.write_text(text.replace("    precision: 128\n", "    precision: 256\n"), encoding="utf-8")
    edited = run(PLAN, in_process=True)
    assert edited.exit_code == 2, edited
    assert "~ cores.fast-athens" in edited.stdout and "~ precision = 128 → 256" in edited.stdout
    assert "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy." in edited.stdout

    # "The sandbox keeps its data and the run's state in examples/quickstart/.reconciler/"
    kept = workdir / "examples" / "quickstart" / ".reconciler"
    assert {"signaloid.json", "state.json"} <= {p.name for p in kept.rglob("*.json")}
    assert not (workdir / ".reconciler").exists(), "nothing is written beside the caller's folder"
