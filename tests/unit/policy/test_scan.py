"""The lexical scan that names rules and their lines without the engine (reconciler/policy/scan.py)."""

from __future__ import annotations

from reconciler.policy.scan import scan

SOURCE = """package policies.main

import rego.v1

# deny_in_a_comment contains "x" if true
deny contains msg if {
	msg := "} not the end {"
	x := `raw
deny_in_a_raw_string if {`
}

default allow := false

test_one if {
	true
} else := false

warn_big contains "w" if count(input.changes) > 10
"""


def test_statements_start_at_depth_zero_outside_strings_and_comments() -> None:
    scanned = scan(SOURCE)
    assert scanned.package == "policies.main" and scanned.package_line == 1
    assert [(s.name, s.line, s.end_line) for s in scanned.statements] == [
        ("package", 1, 2),
        ("import", 3, 5),
        ("deny", 6, 11),
        ("allow", 12, 13),
        ("test_one", 14, 17),
        ("warn_big", 18, 19),
    ]
    assert [r.name for r in scanned.rules()] == ["deny", "allow", "test_one", "warn_big"]


def test_a_file_without_package() -> None:
    assert scan('deny contains "x" if true\n').package is None


def test_an_indented_rule_is_found() -> None:
    """Rego ignores indentation: a deny rule written indented must still be queried (fail closed)."""
    scanned = scan('package main\n\n  deny_b contains "x" if {\n    true\n  }\n')
    assert [(r.name, r.line, r.end_line) for r in scanned.rules()] == [("deny_b", 3, 6)]
