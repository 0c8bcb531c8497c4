"""Issue 18.8: a value interpolated from ${env:…} is sensitive by default, wherever it goes: plan (text,
JSON, Markdown), drift, the saved plan, state.json, export, and the journal. It is shown as
``(sensitive)``; state keeps a digest; export writes the ``${env:NAME}`` reference back.
``${env:NAME:plain}`` marks a value that is no secret. Runs the CLI against the in-process sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main

TOKEN = "tok-7f3a9c2e51d84b60"
NOTE = "note-from-env-4411"
STACK = """version: 1
webhooks:
  ci:
    url: "https://hooks.example.com/ci/${env:HOOK_TOKEN}"
    events: [task-status]
    description: "${env:HOOK_NOTE}"
  open:
    url: "https://hooks.example.com/open/${env:OPEN_PATH:plain}"
    events: [task-status]
"""


def cli(folder: Path, env: dict[str, str], *args: str, stdout: bool = False) -> str:
    """stdout and stderr (or stdout only)."""
    result = CliRunner().invoke(main, [*args, "--sandbox", "-f", str(folder)], env={"NO_COLOR": "1", **env})
    assert result.exit_code in (0, 2), result.output
    return result.stdout if stdout else result.output


def written_by_the_tool(folder: Path) -> str:
    """state.json, the journal, saved plans: everything but the emulators' own data (the "API")."""
    files = [p for p in folder.rglob("*.json*") if p.is_file() and p.name != "signaloid.json"]
    assert {"state.json", "journal.jsonl", "saved.json"} <= {p.name for p in files}
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "stack.yaml").write_text(STACK, encoding="utf-8")
    return tmp_path


def test_env_values_never_leave_the_tool(stack: Path, tmp_path: Path) -> None:
    env = {"HOOK_TOKEN": TOKEN, "HOOK_NOTE": NOTE, "OPEN_PATH": "visible-path"}
    seen = [cli(stack, env, "plan", "--format", fmt) for fmt in ("text", "json", "markdown")]
    doc = json.loads(seen[1])
    fields = {(c["address"], f["path"]): f for c in doc["changes"] for f in c["fields"]}
    assert fields[("webhooks.ci", "url")]["sensitive"] and fields[("webhooks.ci", "description")]["sensitive"]
    assert fields[("webhooks.ci", "url")]["after"] == "(sensitive, changed)"
    assert not fields[("webhooks.ci", "events")]["sensitive"]
    plain = fields[("webhooks.open", "url")]  # ${env:OPEN_PATH:plain}
    assert plain["after"] == "https://hooks.example.com/open/visible-path" and not plain["sensitive"]
    assert re.search(r"\+ url +=  ?\(sensitive", seen[0]), seen[0]

    seen.append(cli(stack, env, "plan", "--out", str(tmp_path / "saved.json")))
    seen.append(cli(stack, env, "apply", "--auto-approve"))
    env["HOOK_NOTE"] = "another-note-9932"  # the secret changes: an update, both sides masked
    seen += [cli(stack, env, "plan", "--format", fmt) for fmt in ("text", "json")]
    assert re.search(r"~ description += \(sensitive, changed\)", seen[-2]), seen[-2]
    seen.append(cli(stack, env, "drift", "--format", "json"))
    seen.append(cli(stack, env, "apply", "--auto-approve"))
    seen.append(cli(stack, env, "export", "--kind", "webhooks"))
    exported = cli(stack, env, "export", "--kind", "webhooks", stdout=True)

    for secret in (TOKEN, NOTE, "another-note-9932"):
        for output in seen:
            assert secret not in output, output
        assert secret not in written_by_the_tool(stack), "a secret was written by the tool"
    assert "visible-path" in written_by_the_tool(stack)  # plain: stored as is

    # export writes the references back: the exported stack loads with the same variables and is in sync
    body = yaml.safe_load(exported)
    hooks = {spec["url"]: spec for spec in body["webhooks"].values()}
    assert "https://hooks.example.com/ci/${env:HOOK_TOKEN}" in hooks
    assert hooks["https://hooks.example.com/ci/${env:HOOK_TOKEN}"]["description"] == "${env:HOOK_NOTE}"
    again = tmp_path / "exported"
    again.mkdir()
    (again / "stack.yaml").write_text(exported, encoding="utf-8")
    (again / ".reconciler").symlink_to(stack / ".reconciler")  # the same sandbox account
    plan = json.loads(cli(again, env, "plan", "--format", "json", stdout=True))
    # export names the webhooks its own way: their state entries move; nothing on the API changes
    assert {c["action"] for c in plan["changes"]} <= {"no-op", "move"}
