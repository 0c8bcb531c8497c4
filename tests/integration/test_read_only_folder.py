"""Issue 18.9: a `.reconciler/` the tool cannot write to is one clear error and exit 1, never a traceback,
and nothing is applied. Made read-only for real: ``chmod`` for a normal user; as root (whom permissions
do not stop) the immutable attribute (``chattr +i``); skipped where neither is possible."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

STACK = "version: 1\nwebhooks:\n  h:\n    url: https://hooks.example.com/ro\n    events: [task-status]\n"


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def cli(folder: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--sandbox", "-f", str(folder)], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("which", ["reconciler", "sandbox"])
def test_a_read_only_state_folder_is_one_clear_error(tmp_path: Path, which: str) -> None:
    (tmp_path / "stack.yaml").write_text(STACK, encoding="utf-8")
    folder = tmp_path / ".reconciler" / ("sandbox" if which == "sandbox" else "")
    folder.mkdir(parents=True)
    with read_only(folder):
        code, out, err = cli(tmp_path, "apply", "--auto-approve")
    assert code == 1, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "read-only" in lines[0] and str(folder.name) in lines[0], lines[0]
    assert "created" not in out  # nothing was applied
    code, out, err = cli(tmp_path, "apply", "--auto-approve")  # writable again: converges
    assert code == 0, out + err
