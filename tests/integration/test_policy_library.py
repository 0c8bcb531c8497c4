"""Issue 30: ``policy test`` and the example library. The library's cases (examples/policy/tests)
all pass, as CI checks them; a failing case and a test rule that crashes the engine are failed
tests with their reason, and the command reports the others."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.cli import RunCli

LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "policy"


def test_the_example_library_passes_its_own_tests(run_cli: RunCli) -> None:
    result = run_cli("policy", "test", LIBRARY)
    assert result.exit_code == 0, result
    cases = sorted(p.name for p in (LIBRARY / "tests").glob("*.yaml"))
    assert len(cases) >= 8
    for case in cases:
        assert f"PASS tests/{case}" in result.stdout
    assert "FAIL" not in result.stdout


def test_a_crashing_test_rule_and_a_wrong_case_are_failures_with_their_reason(
    run_cli: RunCli, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    shutil.copytree(LIBRARY, library)
    (library / "crash_test.rego").write_text(
        "package main\n\nimport rego.v1\n\nd := upper(input.a)\n\n"
        'test_upper_under_with if {\n\td == "A" with input as {"a": "a"}\n}\n\n'
        'test_plain if {\n\tresource_name({"address": "cores.x", "kind": "cores"}) == "x"\n}\n',
        encoding="utf-8",
    )
    (library / "tests" / "wrong.yaml").write_text(
        "input: { changes: [ { address: cores.prod-x, kind: cores, action: delete, fields: [] } ] }\n"
        "deny: []\nwarn: []\n",
        encoding="utf-8",
    )
    result = run_cli("policy", "test", library)
    assert result.exit_code == 1, result
    out = result.stdout
    assert "FAIL tests/wrong.yaml: deny produced but not expected: " in out
    assert "'cores.prod-x is protected: no delete or replace'" in out
    assert "FAIL " in out and "crash_test.rego:7 test_upper_under_with: " in out
    assert "the policy engine crashed (SIGSEGV)" in out
    assert "PASS " in out and "crash_test.rego:11 test_plain" in out  # isolated from the crashing one
    assert "PASS tests/protected_delete_denied.yaml" in out
    assert out.rstrip().endswith("2 failed")


def test_no_tests_is_an_error(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text('package main\n\ndeny contains "x" if false\n', encoding="utf-8")
    result = run_cli("policy", "test", tmp_path)
    assert result.exit_code == 1 and "no tests" in result.stderr, result


def test_a_case_that_is_an_alias_bomb_is_a_failed_test_not_a_hang(run_cli: RunCli, tmp_path: Path) -> None:
    library = tmp_path / "library"
    shutil.copytree(LIBRARY, library)
    bomb = Path(__file__).resolve().parents[1] / "bad_inputs" / "billion_laughs.yaml"
    shutil.copy(bomb, library / "tests" / "bomb.yaml")
    result = run_cli("policy", "test", library)
    assert result.exit_code == 1, result
    assert "FAIL tests/bomb.yaml: " in result.stdout and "billion laughs" in result.stdout
