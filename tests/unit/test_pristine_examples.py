"""Tests copy the examples as shipped (git's index), not the user's edited working copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.examples import ROOT, example_file, pristine_example


def test_an_example_is_copied_as_shipped(tmp_path: Path) -> None:
    try:
        shipped = subprocess.run(
            ["git", "-C", str(ROOT), "show", ":examples/quickstart/stack.yaml"],
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the examples are copied as they are")
    folder = pristine_example("quickstart", tmp_path)
    assert (
        (folder / "stack.yaml").read_text(encoding="utf-8")
        == shipped
        == example_file("examples/quickstart/stack.yaml")
    )
    assert not (folder / ".reconciler").exists(), "sandbox data of the user's runs is not copied"
