"""The seams ARCHITECTURE.md draws ("The layers"): the engine and the application layer load no HTTP
library, and no layer below the command line imports it (imports flow one way: cli → app → engine)."""

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
        "reconciler.app.planning",
        "reconciler.app.saved_plans",
        "reconciler.engine.presenting.render",
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
    "layer", ["app", "engine", "policy", "kinds", "config", "state", "providers", "common", "packages"]
)
def test_nothing_below_the_command_line_imports_it(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _imports(path) if n.startswith("reconciler.cli"))
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize(
    "layer", ["engine", "policy", "kinds", "config", "state", "providers", "common", "packages"]
)
def test_nothing_below_the_application_layer_imports_it(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _imports(path) if n.startswith("reconciler.app"))
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_package_root_keeps_only_the_error_tree_and_the_values() -> None:
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "errors.py", "values.py"]


HTTP_LIBRARIES = ("httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2")
# The emulators play the other side of the wire; their fault injector raises the HTTP client's own
# exception type, so that a dropped connection looks the same in process as over a socket.
HTTP_ALLOWED_OUTSIDE_PROVIDERS = {"sandbox/faults.py"}


def _modules(*layers: str) -> list[Path]:
    return sorted(p for layer in layers for p in (PACKAGE / layer).rglob("*.py"))


def test_no_http_library_is_imported_outside_the_providers() -> None:
    offenders = {
        rel: sorted(n for n in _imports(path) if n.split(".")[0] in HTTP_LIBRARIES)
        for path in PACKAGE.rglob("*.py")
        if not (rel := str(path.relative_to(PACKAGE))).startswith("providers/")
        and rel not in HTTP_ALLOWED_OUTSIDE_PROVIDERS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# What each layer may import from the package: imports flow one way, cli → app → engine, with
# config, kinds, providers, state and the leaves below. The sandbox (emulators) is used by the
# application layer to run a stack without an account.
ALLOWED = {
    "cli": {"cli", "app", "engine", "policy", "config", "kinds", "providers", "state", "common", "packages",
            "sandbox", "errors", "values"},
    "app": {"app", "engine", "policy", "config", "kinds", "providers", "state", "common", "packages",
            "sandbox", "errors", "values"},
}  # fmt: skip


@pytest.mark.parametrize("path", _modules("app", "cli"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_of_app_and_cli_imports_only_downwards(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    used = {n.split(".")[1] for n in _imports(path) if n.startswith("reconciler.") and n.count(".") >= 1}
    used = {u.removesuffix(".py") for u in used}
    assert used <= ALLOWED[layer], f"{path.relative_to(PACKAGE)} imports {sorted(used - ALLOWED[layer])}"
    assert not any(n.split(".")[0] in HTTP_LIBRARIES for n in _imports(path))
