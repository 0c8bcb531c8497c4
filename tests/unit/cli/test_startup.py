"""What the command sets up before any command runs (start-up, issue 17)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from reconciler.cli import main


def test_pydantic_plugins_are_not_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    assert CliRunner().invoke(main, ["schema"]).exit_code == 0
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"


def test_a_users_own_plugin_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "logfire")
    assert CliRunner().invoke(main, ["schema"]).exit_code == 0
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "logfire"


def test_help_imports_no_engine_nor_http_nor_rich() -> None:
    """``--help`` (and every command's start) stays light: the engine, HTTP and the terminal
    library are imported by the commands that use them, when they run."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom reconciler.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx2', 'rich', 'deepdiff')"
        " or m.startswith('reconciler.engine')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]
