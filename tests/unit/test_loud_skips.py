"""The README's test command (``python -m pytest``) prints the reason of every skipped test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_skip_reason_is_printed(tmp_path: Path) -> None:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_needs_a_hub():\n    pytest.skip('the Scramjet hub is not installed here')\n"
    )
    result = subprocess.run(  # this project's pytest settings, on a test that skips
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", str(tmp_path / "test_skips.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED [1]" in result.stdout and "the Scramjet hub is not installed here" in result.stdout
