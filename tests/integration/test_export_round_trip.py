"""``export`` → ``plan`` on the export shows only adoptions, for every kind export writes; a kind it
cannot write (sequences: they need their package) is named, with why. All three emulators on loopback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.cli import RunCli
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import API_KEY, CORE, WEBHOOK, repository

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "scramjet" / "sequences" / "hello-counter"
INSTANCE = {"workspace": "research", "package": "summarize-text", "version": "1.2.0",
            "config": {"model": "gpt-4", "max_words": 200}}  # fmt: skip


def test_every_exported_kind_plans_as_adoptions_only(
    start_sandbox: StartSandbox, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = start_sandbox()
    monkeypatch.setenv("STEAMSHIP_API_BASE", f"{sandbox.url}/steamship/api/v1/")
    monkeypatch.setenv("STEAMSHIP_API_KEY", API_KEY)
    source = tmp_path / "source"
    shutil.copytree(HELLO, source / "pkg")
    doc = {
        "version": 1,
        "providers": {"scramjet": {"hubs": {"local": {"url": f"{sandbox.url}/scramjet/api/v1"}}}},
        "cores": {"fast": CORE},
        "repositories": {"model": repository("https://github.com/acme/sensor-model", core="fast")},
        "webhooks": {"notify": {"url": "https://hooks.example.com/a", **WEBHOOK}},
        "workspaces": {"research": {}, "staging": {}},
        "package_instances": {
            "summarizer": INSTANCE,
            "greeter": {"workspace": "staging", "package": "hello-world"},
        },
        "sequences": {"hello-counter": {"hub": "local", "package": "./pkg"}},
    }
    (source / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert run_cli("apply", "--auto-approve", "-f", source).exit_code == 0

    exported = run_cli("export", "-f", source)
    assert exported.exit_code == 0, exported
    assert "not exported: sequences (1 live): a sequence is declared with its package" in exported.stderr
    stack = yaml.safe_load(exported.stdout)
    assert set(stack["package_instances"]) == {"summarizer", "greeter"}, "instances keep their handles"
    assert {k for k in stack if k != "version"} == {
        "cores", "repositories", "webhooks", "workspaces", "package_instances"
    }  # fmt: skip

    fresh = tmp_path / "fresh"  # no state: everything must be found by its natural key
    fresh.mkdir()
    (fresh / "stack.yaml").write_text(exported.stdout, encoding="utf-8")
    assert run_cli("validate", "-f", fresh).exit_code == 0
    result = run_cli("plan", "--format", "json", "-f", fresh)
    assert result.exit_code == 0, result
    plan = result.json()
    assert {k: plan["summary"][k] for k in ("create", "update", "replace", "delete")} == dict.fromkeys(
        ("create", "update", "replace", "delete"), 0
    ), [c for c in plan["changes"] if c["pending"]]
    assert plan["summary"]["adopt"] == 7 and all(c["adopt"] for c in plan["changes"])
