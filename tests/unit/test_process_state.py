"""ARCHITECTURE.md, "Process-global state", is the whole list: every module-level value of
``reconciler/`` that is changed after import, every cached function and every process setting is
named in that table, and the table names nothing that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
MUTATORS = {"append", "add", "update", "pop", "popitem", "setdefault", "clear", "move_to_end", "discard",
            "remove", "extend", "insert"}  # fmt: skip
SETTINGS = {"gc.set_threshold", "os.environ.setdefault"}


def _process_state(source: str) -> set[str]:
    """The names in ``source`` that keep state for the process: a module-level name changed in
    place or rebound (``global``), a ContextVar, a ``functools.cache``d function, a process setting."""
    tree = ast.parse(source)
    top: set[str] = set()
    found: set[str] = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        top |= {t.id for t in targets if isinstance(t, ast.Name)}
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and node.value is not None
            and "ContextVar(" in ast.unparse(node.value)
        ):
            found |= {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            "cache" in ast.unparse(d) for d in node.decorator_list
        ):
            found.add(node.name)
    for n in ast.walk(tree):
        if isinstance(n, ast.Global):
            found |= set(n.names)
        elif isinstance(n, ast.Call):
            func = ast.unparse(n.func)
            attribute = n.func if isinstance(n.func, ast.Attribute) else None
            receiver = attribute.value if attribute is not None else None
            if (
                attribute is not None
                and isinstance(receiver, ast.Name)
                and receiver.id in top
                and attribute.attr in MUTATORS
            ):
                found.add(receiver.id)
            elif func in SETTINGS:
                found.add(func)
            elif func.endswith(".setLevel"):
                found.add("setLevel")
        elif isinstance(n, ast.Assign | ast.AugAssign | ast.Delete):
            for t in n.targets if isinstance(n, ast.Assign | ast.Delete) else [n.target]:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in top:
                    found.add(t.value.id)
    return found


def _documented() -> set[tuple[str, str]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Process-global state", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        where, module = row.split("|")[1], None
        for item in re.findall(r"`([^`]+)`", where):
            if item.endswith(".py"):
                module = item
            else:
                assert module is not None, row
                listed.add((module, item))
    return listed


def test_every_piece_of_process_state_is_listed_in_architecture_md() -> None:
    found = {
        (str(path.relative_to(PACKAGE)), name)
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in _process_state(path.read_text(encoding="utf-8"))
    }
    documented = _documented()
    assert found - documented == set(), "process state not in ARCHITECTURE.md, Process-global state"
    assert documented - found == set(), "ARCHITECTURE.md, Process-global state, names what is gone"


def test_the_scan_sees_each_form_of_process_state() -> None:
    source = """
import functools, gc
from contextvars import ContextVar
_seen = set()
_by = {}
_flag = False
CONSTANT = {"a": 1}
_var = ContextVar("v")
def note(x):
    global _flag
    _seen.add(x)
    _by[x] = 1
    _flag = True
    local = {}
    local["x"] = 1
    return CONSTANT["a"]
@functools.cache
def built(): ...
gc.set_threshold(1)
"""
    assert _process_state(source) == {"_seen", "_by", "_flag", "_var", "built", "gc.set_threshold"}
