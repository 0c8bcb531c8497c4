"""Run a CI recipe's jobs line by line, as a runner would, on this machine.

- ``built_wheel(dir)``: this checkout built once into a wheel (``pip wheel --no-deps``): the local
  stand-in for the recipes' ``$RECONCILER_INSTALL`` (the project at a release tag).
- ``runner_python(dir)``: a throwaway virtualenv, what ``actions/setup-python`` or ``python:3.12``
  gives a job. Its dependencies come from the test environment through a ``.pth`` line (no network);
  the project itself is only there once the recipe's install line has run.
- ``stub_tools(dir)``: ``gh``, ``curl`` and ``apt-get`` that record their arguments in ``$STUB_LOG``
  instead of reaching GitHub, GitLab or Debian; downloading the reviewed plan copies
  ``$REVIEWED_PLAN``. Everything else (bash, jq, python, pip, reconciler) is real.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = ["built_wheel", "lend_test_dependencies", "runner_python", "stub_tools"]

_STUB = r"""#!/usr/bin/env bash
tool=$(basename "$0")
printf '%s %s\n' "$tool" "$*" >> "$STUB_LOG"
[ -t 0 ] || cat > /dev/null
case "$tool $*" in
  "gh run download"*|"curl "*"-o plan.json"*) cp "$REVIEWED_PLAN" ./plan.json ;;
  "curl "*"/merge_requests") echo '[{"source_branch": "feature"}]' ;;
  "gh api"*|"gh pr view"*|"gh run list"*) echo 1 ;;
esac
"""


def built_wheel(root: Path, out: Path) -> Path:
    """Build from a copy of what the wheel holds: setuptools writes build/ beside the sources."""
    source = out / "source"
    shutil.copytree(root / "reconciler", source / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("reconciler_iac-*.whl")
    return wheel


def runner_python(where: Path) -> Path:
    """A new virtualenv (with pip) whose bin/ is what the jobs find first on PATH."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, capture_output=True, timeout=300)
    lend_test_dependencies(where)
    return where / "bin"


def lend_test_dependencies(venv: Path) -> None:
    """Let ``venv`` import the test environment's packages (a ``.pth`` line; no network)."""
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def stub_tools(where: Path, tools: tuple[str, ...] = ("gh", "curl", "apt-get")) -> Path:
    """The stubs of ``tools`` in ``where`` (the GitLab recipe's test stubs only ``apt-get``: its
    ``curl`` is the real one, against ``tests/support/fake_gitlab.py``)."""
    where.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        (where / tool).write_text(_STUB)
        (where / tool).chmod(0o755)
    return where
