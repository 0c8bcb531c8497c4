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
