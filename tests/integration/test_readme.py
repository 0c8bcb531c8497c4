"""The README as a new user runs it: every shell block, every line, in order, by bash, with the
installed ``reconciler`` on PATH, in a fresh copy of the examples, against the built-in sandbox (no
account, no server, no credentials); each command must succeed. Two lines are the harness's own:
the install line (this test runs in the installed project) and the test command (it is running).

And the README and docs/ pages link only inside the repository, to files that exist."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import RECONCILER_BIN
from tests.support.examples import ROOT, pristine_example

README = (ROOT / "README.md").read_text(encoding="utf-8")
HARNESS_LINES = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]'",  # done: we run installed
    "python -m pytest",  # this is it
}
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)


def test_every_shell_block_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    for name in ("quickstart", "fleet", "policy"):
        pristine_example(name, tmp_path)
    lines = [line for block in shell_blocks(README) for line in block.splitlines()]
    commands = [line for line in lines if line.strip() and line.strip() not in HARNESS_LINES]
    assert sum(c.startswith("reconciler ") for c in commands) >= 10, "the main workflows are in the README"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOID_", "STEAMSHIP_", "RECONCILER_"))
    }
    env |= {"PATH": f"{RECONCILER_BIN.parent}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1"}
    for command in commands:
        if command.startswith("#"):
            continue
        expected = re.search(r"#\s*exit (\d+)", command)  # a line the README says fails, and how
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        code = int(expected[1]) if expected else 0
        assert done.returncode == code, (
            f"README: `{command}` exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    page = (tmp_path / "fleet.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'data-status="in_sync" data-count="3"' in page


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_stay_in_the_repository_and_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.DOTALL))  # code is no link
    for target in LINK.findall(prose):
        assert "://" not in target and not target.startswith("//"), f"{page.name} links outside: {target}"
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), f"{page.name}: {target} does not exist"
    assert "../shared" not in text, f"{page.name} points outside the repository"


def test_the_readme_leads_with_quickstart_workflows_and_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:70])
    for heading in ("## Quickstart", "## Main workflows", "## Commands"):
        assert heading in first_screen, f"{heading} is not on the README's first screen"
    assert "reconciler completion bash|zsh|fish" in first_screen
