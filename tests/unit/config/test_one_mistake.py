"""One mistake, one message: a misspelled field gives the did-you-mean line only."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main

CORE = (
    "    class: C0\n    microarchitecture: Athens\n"
    "    memory_size: 256000\n    correlation_tracking: Disable\n"
)


def _validate(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", "-f", str(path)])
    return result.exit_code, result.output


def test_a_misspelled_required_field_is_one_message(tmp_path: Path) -> None:
    code, output = _validate(tmp_path, f"version: 1\ncores:\n  c:\n{CORE}    precison: 128\n")
    assert code == 1
    assert output == (
        f"Error: {tmp_path / 'stack.yaml'}:8:5: cores.c.precison: unknown field 'precison' "
        "(did you mean 'precision'?)\n"
    )


def test_a_missing_field_with_no_lookalike_is_still_reported(tmp_path: Path) -> None:
    code, output = _validate(tmp_path, f"version: 1\ncores:\n  c:\n{CORE}    colour: red\n")
    assert code == 1
    assert "precision: required field is missing" in output and "unknown field 'colour'" in output


def test_the_did_you_mean_does_not_hide_a_missing_field_of_another_resource(tmp_path: Path) -> None:
    text = f"version: 1\ncores:\n  a:\n{CORE}    precison: 128\n  b:\n{CORE}"
    code, output = _validate(tmp_path, text)
    assert code == 1
    assert "cores.a.precison: unknown field" in output
    assert "cores.b.precision: required field is missing" in output
    assert "cores.a.precision: required field is missing" not in output
