"""Usage errors exit 1 on every command: 2 means only "changes present / drifted" to CI jobs."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reconciler.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


COMMANDS = _commands(main)


def test_every_command_is_covered() -> None:
    assert {"plan", "drift", "apply", "destroy", "validate", "export", "import", "schema"} <= {
        c[0] for c in COMMANDS
    }
    assert ("state", "list") in COMMANDS and ("sandbox", "serve") in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_option_exits_1(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--no-such-option"])
    assert result.exit_code == 1, result.output
    assert "No such option" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["plan", "--format", "yaml"], "Invalid value for '--format'"),
        (["drift", "--format", "yaml"], "Invalid value for '--format'"),
        (["plan", "--fromat", "markdown", "--detailed-exitcode"], "No such option '--fromat'"),
        (["import", "cores.a"], "Missing argument 'REMOTE_ID'"),
        (["state", "show"], "Missing argument 'ADDRESS'"),
        (["apply", "--parallelism", "0"], "Invalid value for '--parallelism'"),
        (["sandbox", "serve", "--port", "eighty"], "Invalid value for '--port'"),
        (["plna"], "No such command 'plna'"),
        (["state", "lst"], "No such command 'lst'"),
        (["state"], "Usage:"),  # a group without its command
        ([], "Usage:"),
    ],
)
def test_usage_errors_exit_1(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_help_and_version_still_exit_0() -> None:
    assert CliRunner().invoke(main, ["plan", "--help"]).exit_code == 0
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0 and "version" in version.output


def test_a_command_body_error_still_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "-f", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "no such file" in result.output
