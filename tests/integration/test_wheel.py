"""The wheel holds the whole package, so an installed ``reconciler`` runs what the checkout runs.

A module the editable checkout imports but the wheel lacks (a folder without ``__init__.py``, a data
file not declared) breaks only installed users. ``.ci/wheel-smoke.sh`` installs the wheel in a fresh
virtualenv and runs the quickstart from it; this test checks the wheel's contents file by file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", ".tools", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".reconciler"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """Built by pip from a clean copy of the checkout, as a user's ``pip install .`` would."""
    src = tmp_path_factory.mktemp("wheel") / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=NOT_SOURCE)
    dist = src.parent / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        why = f"pip could not build the wheel (is the package index reachable?):\n{done.stderr[-3000:]}"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {why}", pytrace=False)
        pytest.skip(why)
    (built,) = dist.glob("*.whl")  # the distribution name is not assumed
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_every_module_and_data_file_of_the_package_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "reconciler").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert len(source) > 50
    assert not source - names, f"in the checkout but not in the wheel: {sorted(source - names)}"
    stray = {n for n in names if not n.startswith("reconciler/") and ".dist-info/" not in n}
    assert not stray, f"the wheel holds more than the package: {sorted(stray)}"


def test_the_wheel_declares_the_command_and_the_pythons_it_supports(wheel: zipfile.ZipFile) -> None:
    info = {Path(n).name: n for n in wheel.namelist() if ".dist-info/" in n}
    entry_points = wheel.read(info["entry_points.txt"]).decode()
    assert "reconciler = reconciler.cli:main" in entry_points
    metadata = wheel.read(info["METADATA"]).decode()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"Requires-Python: {project['requires-python']}" in metadata
    oldest = int(project["requires-python"].removeprefix(">=3."))
    claimed = {
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert claimed == set(range(oldest, max(claimed) + 1)), "every version from the oldest supported"
    assert max(claimed) >= 13
    for minor in claimed:
        assert f"Classifier: Programming Language :: Python :: 3.{minor}" in metadata
