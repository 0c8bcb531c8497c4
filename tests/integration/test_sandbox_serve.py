"""``sandbox serve`` prints only variables the tool reads, and the examples run unchanged against it.

The announcement's ``export`` lines are parsed and become the whole environment of the runs: the
Signaloid, Steamship and Scramjet examples (fresh copies) apply against the served emulators and
land there, and every printed name is read by a provider or by an example stack's ``${env:…}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest

from reconciler.sandbox.server import announcement, build_app
from tests.support.cli import RunCli
from tests.support.examples import pristine_example
from tests.support.servers import serve_app

ROOT = Path(__file__).resolve().parents[2]
EXPORT = re.compile(r"^  export (?P<name>[A-Z_]+)=(?P<value>\S+)")


def _exports(base: str) -> dict[str, str]:
    lines = announcement(base)
    assert lines[0].startswith(f"Sandbox emulators on {base}")
    found = {m["name"]: m["value"] for m in map(EXPORT.match, lines[1:]) if m}
    assert len(found) == len(lines) - 1, lines
    return found


def test_every_printed_variable_is_read_by_the_tool_or_an_example() -> None:
    providers = (ROOT / "reconciler" / "providers").rglob("*.py")
    sources = "\n".join(p.read_text(encoding="utf-8") for p in providers)
    stacks = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "examples").glob("*/*.yaml"))
    for name in _exports("http://127.0.0.1:8787"):
        assert f'"{name}"' in sources or f"${{env:{name}" in stacks, f"{name} is printed but never read"


@pytest.mark.parametrize("example", ["quickstart", "steamship", "scramjet"])
def test_the_examples_run_unchanged_against_sandbox_serve(
    example: str, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = pristine_example(example, tmp_path)
    with serve_app(build_app(tmp_path / "data")) as base:
        for name in ("SIGNALOID_API_URL", "SIGNALOID_API_KEY", "STEAMSHIP_API_BASE", "STEAMSHIP_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        for name, value in _exports(base).items():
            monkeypatch.setenv(name, value)
        result = run_cli("apply", "--auto-approve", "-f", folder)
        assert result.exit_code == 0, result
        assert run_cli("plan", "--detailed-exitcode", "-f", folder).exit_code == 0
        if example == "scramjet":  # it reached the served hub, not 127.0.0.1:8000
            names = [s["config"]["name"] for s in httpx2.get(f"{base}/scramjet/api/v1/sequences").json()]
            assert names == ["hello-counter"]


def test_the_default_after_colon_dash_applies_when_the_variable_is_unset(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCRAMJET_HUB_URL", raising=False)
    (tmp_path / "stack.yaml").write_text(
        'version: 1\nwebhooks:\n  h:\n    url: "${env:HOOK_URL:-https://hooks.example.com/x}"\n'
        "    events: [task-status]\n"
    )
    monkeypatch.delenv("HOOK_URL", raising=False)
    assert run_cli("validate", "-f", tmp_path).exit_code == 0
    monkeypatch.setenv("HOOK_URL", "not a url")
    assert run_cli("validate", "-f", tmp_path).exit_code == 1  # the variable, when set, wins
