"""``Change`` has many fields whose order is no contract: it is built by keyword, everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[3]


def test_change_is_built_by_keyword_everywhere() -> None:
    positional = []
    for folder in ("reconciler", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Change" and node.args:
                    positional.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert positional == []
