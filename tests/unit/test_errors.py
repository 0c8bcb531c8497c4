"""Issue 18.10: a stack with 10,000 bad resources is one bounded message: the first issues, then the
count (it printed 7 MB before)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import MAX_ISSUES_SHOWN, ConfigError, ConfigIssue

BAD_CORE = (
    "  c{i}:\n    class: C9\n    microarchitecture: Athens\n    precision: 64\n    memory_size: 256000\n"
    "    correlation_tracking: Disable\n"
)


def test_ten_thousand_bad_resources_print_the_first_issues_and_the_count(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "version: 1\ncores:\n" + "".join(BAD_CORE.format(i=i) for i in range(10_000)), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["validate", "-f", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: the stack is not valid:"
    assert len(lines) == 1 + MAX_ISSUES_SHOWN + 1 and len(result.stderr) < 20_000, len(result.stderr)
    assert lines[1].startswith(f"  {path}:4:12: cores.c0.class: ")
    assert lines[-1] == f"  … and {10_000 - MAX_ISSUES_SHOWN:,} more (10,000 in all)"


def test_the_message_of_a_config_error_is_bounded_too() -> None:
    issues = [ConfigIssue(f"problem {i}", file="s.yaml", line=i + 1) for i in range(MAX_ISSUES_SHOWN + 3)]
    text = str(ConfigError(issues)).splitlines()
    assert text[0] == "s.yaml:1: problem 0" and len(text) == MAX_ISSUES_SHOWN + 1
    assert text[-1] == f"… and 3 more ({MAX_ISSUES_SHOWN + 3} in all)"
    assert str(ConfigError(issues[:2])) == "s.yaml:1: problem 0\ns.yaml:2: problem 1"
