"""The seams DESIGN.md draws: the engine and the application layer load no HTTP library, and no
layer below the command line imports it (imports flow one way: cli → app → engine)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"


@pytest.mark.parametrize(
    "module",
    [
        "reconciler.engine.deciding.plan",
        "reconciler.engine.executing.apply",
        "reconciler.app.session",
        "reconciler.providers",
    ],
)
def test_importing_the_engine_loads_no_http_library(module: str) -> None:
    code = (
        f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith(('httpx', 'httpcore'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", f"{module} loads {loaded.strip()}"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    "layer", ["app", "engine", "kinds", "config", "state", "providers", "common", "packages"]
)
def test_nothing_below_the_command_line_imports_it(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _imports(path) if n.startswith("reconciler.cli"))
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("layer", ["engine", "kinds", "config", "state", "providers", "common", "packages"])
def test_nothing_below_the_application_layer_imports_it(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _imports(path) if n.startswith("reconciler.app"))
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_package_root_keeps_only_the_error_tree_and_the_values() -> None:
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "errors.py", "values.py"]
