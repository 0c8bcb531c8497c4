"""The plan JSON says where the stack's state is (``state``, docs/plan-format.md), as the text and
Markdown headers do: the local file, or the PostgreSQL server and stack, never the DSN's password."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from tests.support.cli import RunCli
from tests.support.postgres import postgres_dsn
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE


def write_stack(folder: Path, state: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {"version": 1, **({"state": state} if state else {}), "cores": {"a": dict(CORE)}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_the_json_says_where_local_state_is_as_the_header_does(
    tmp_path: Path, run_cli: RunCli, command: str
) -> None:
    folder = write_stack(tmp_path / "stack")
    doc = run_cli(command, "--sandbox", "-f", folder, "--format", "json").json()
    where = f"local file {folder / '.reconciler' / 'sandbox' / 'state.json'}"
    assert doc["state"] == {"backend": "local", "description": where}
    assert doc["format_version"] == "2"  # an added key: the version stays
    assert f"State: {where}\n" in run_cli(command, "--sandbox", "-f", folder).stdout
    assert f"State: `{where}`" in run_cli(command, "--sandbox", "-f", folder, "--format", "markdown").stdout


def test_the_json_names_the_postgres_server_and_stack_never_the_password(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_sandbox()
    dsn = postgres_dsn()
    monkeypatch.setenv("RECONCILER_PG_DSN", dsn)
    stack = f"test-{uuid.uuid4().hex[:12]}"
    folder = write_stack(
        tmp_path / "stack", {"backend": "postgres", "dsn": "${env:RECONCILER_PG_DSN}", "stack": stack}
    )
    result = run_cli("plan", "-f", folder, "--format", "json")
    assert result.exit_code == 0, result
    info = conninfo_to_dict(dsn)
    server = f"{info['host']}:{info['port']}/{info['dbname']}"
    assert result.json()["state"] == {
        "backend": "postgres",
        "description": f"PostgreSQL state, stack {stack!r} on {server}",
    }
    password = str(info["password"])
    assert password and password not in result.output and dsn not in result.output
