"""Tests share helpers through tests/support only: no test imports a conftest or another test module
(a helper there is reachable only from one folder, and importing a test module runs its tests' setup)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_tests_import_shared_helpers_from_tests_support_only() -> None:
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        wrong = sorted(
            name
            for name in _imported(path)
            if name.startswith(("tests.unit", "tests.integration")) or name.rsplit(".", 1)[-1] == "conftest"
        )
        if wrong:
            offenders[str(path.relative_to(TESTS))] = wrong
    assert offenders == {}, "move what these import into tests/support/ and import it from there"
