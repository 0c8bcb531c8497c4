"""Help like the best CLIs: every option described, examples and exit codes in every command's
help, options only where they mean something, shell completion, colour switches."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.support.cli import RECONCILER_BIN


def commands(group: click.Group = main, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
    return found


ALL = commands()


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_option_is_described(path: str, command: click.Command) -> None:
    bare = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help]
    assert bare == [], f"reconciler {path}: options without a description"


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_help_ends_with_examples_and_exit_codes(path: str, command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  Examples:\n +reconciler ", result.output), result.output
    assert "\n  Exit codes: 0 " in result.output


@pytest.mark.parametrize("path", ["drift", "destroy"])
def test_no_mass_delete_switch_where_it_means_nothing(path: str) -> None:
    assert "--allow-mass-delete" not in CliRunner().invoke(main, [path, "--help"]).output
    result = CliRunner().invoke(main, [path, "--allow-mass-delete"])
    assert result.exit_code != 0 and "No such option" in result.output


@pytest.mark.parametrize("path", ["plan", "apply"])
def test_the_mass_delete_switch_is_where_a_plan_may_be_applied(path: str) -> None:
    assert "--allow-mass-delete" in CliRunner().invoke(main, [path, "--help"]).output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_complete_through_the_cli(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0 and "_RECONCILER_COMPLETE" in result.output
    # and the completion protocol the script calls answers with the commands
    cword = "dr" if shell == "fish" else "1"
    env = {**os.environ, "_RECONCILER_COMPLETE": f"{shell}_complete", "COMP_WORDS": "reconciler dr",
           "COMP_CWORD": cword}  # fmt: skip
    done = subprocess.run([RECONCILER_BIN], env=env, capture_output=True, text=True, timeout=60)
    assert "drift" in done.stdout, done


def test_completion_refuses_other_shells() -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code != 0 and "tcsh" in result.output


def _plan_output(tmp_path: object, *flags: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")} | env
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "plan", "--sandbox", "-f", str(tmp_path), *flags],
        capture_output=True, text=True, env=environ, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done
    return done.stdout


@pytest.mark.parametrize(
    ("flags", "env", "coloured"),
    [
        ((), {}, False),  # not a terminal
        ((), {"FORCE_COLOR": "1"}, True),
        (("--no-color",), {"FORCE_COLOR": "1"}, False),
        ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ],
    ids=["pipe", "FORCE_COLOR", "--no-color-wins", "NO_COLOR-wins"],
)
def test_colour_switches(
    tmp_path: object, flags: tuple[str, ...], env: dict[str, str], coloured: bool
) -> None:
    from pathlib import Path

    stack = Path(str(tmp_path))
    (stack / "stack.yaml").write_text(
        "version: 1\ncores:\n  c: {class: C0, microarchitecture: Athens, precision: 128, memory_size: 256000,"
        " correlation_tracking: Autocorrelation}\n"
    )
    assert ("\x1b[" in _plan_output(stack, *flags, **env)) is coloured
