"""Each stack's next command, on the fleet page and in the text table, runs as written: a fleet
checked with ``--sandbox`` (and ``--policy``) says so in its report (``checked_with``) and the
suggestion repeats it. The commands are taken from the page as headless Chromium shows it and from
the text table, then run through a shell from the directory the check ran in; the ``apply`` one at
a pseudo-terminal, answering its question as a person would."""

from __future__ import annotations

import html
import os
import pty
import re
import select
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import yaml

from tests.support.chromium import dump_dom
from tests.support.cli import RECONCILER_BIN
from tests.support.postgres import postgres_dsn
from tests.support.sandbox import StartSandbox
from tests.support.signaloid import CORE

BIN = RECONCILER_BIN.parent
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def environ(**extra: str) -> dict[str, str]:
    """The shell a person has: reconciler on PATH, no API credentials (the sandbox needs none), no
    state settings; ``extra``: what this person's shell has besides."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOID_", "RECONCILER_", "FORCE_COLOR"))
    }
    return env | {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1", "TERM": "xterm"} | extra


def shell(command: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=cwd, env=environ(**extra), capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def at_a_terminal(command: str, cwd: Path, answer: str, **extra: str) -> tuple[int, str]:
    """Run ``command`` through a shell at a pseudo-terminal; type ``answer`` when it asks."""
    main, side = pty.openpty()
    proc = subprocess.Popen(
        command, shell=True, cwd=cwd, env=environ(**extra), stdin=side, stdout=side, stderr=side
    )
    os.close(side)
    seen, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 5)
        if not ready:
            continue
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Only 'yes' will be accepted" in seen:
            os.write(main, answer.encode() + b"\n")
            answered = True
    os.close(main)
    return proc.wait(timeout=60), seen.decode("utf-8", "replace")


def next_commands(text: str) -> dict[str, str]:
    """Stack name -> its next command, from a rendering that shows ``reconciler … -f NAME …``."""
    found = re.findall(r"((?:[A-Z_]+=\S+ )*reconciler (?:plan|apply) [^<\n]*?-f ([^\s<]+)[^<\n]*)", text)
    return {name: command.strip() for command, name in found}


def test_the_next_command_of_a_sandbox_fleet_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "fleet", tmp_path / "fleet")
    shutil.copytree(EXAMPLES / "policy", tmp_path / "policy")
    for applied in ("team-a/prod", "team-b/prod"):
        done = shell(f"reconciler apply --sandbox --auto-approve -f fleet/{applied}", tmp_path)
        assert done.returncode == 0, done.stderr
    (tmp_path / "fleet" / "broken").mkdir()
    (tmp_path / "fleet" / "broken" / "stack.yaml").write_text("version: 1\ncores: [\n", encoding="utf-8")

    check = "reconciler drift --sandbox --stacks fleet --policy policy"
    text = shell(check, tmp_path)
    assert text.returncode == 1, text.stderr  # the broken stack
    page = shell(f"{check} --format html > fleet.html", tmp_path)
    assert page.returncode == 1, page.stderr
    shown = html.unescape(dump_dom(tmp_path / "fleet.html"))

    from_text, from_page = next_commands(text.stdout), next_commands(shown)
    assert from_text == from_page, (text.stdout, from_page)
    assert from_text == {
        "fleet/broken": "reconciler plan --sandbox -f fleet/broken --policy policy",
        "fleet/team-a/staging": "reconciler apply --sandbox -f fleet/team-a/staging --policy policy",
    }

    errored = shell(from_page["fleet/broken"], tmp_path)  # shows the stack's error, as it says
    assert errored.returncode == 1
    assert re.search(r"fleet/broken/stack\.yaml:\d+:\d+", errored.stderr), errored.stderr
    assert "credential" not in errored.stderr.lower() and "Traceback" not in errored.stderr

    code, applied = at_a_terminal(from_page["fleet/team-a/staging"], tmp_path, "yes")
    assert code == 0, applied
    assert "Apply complete! Resources: 1 added" in applied

    (tmp_path / "fleet" / "broken" / "stack.yaml").unlink()
    (tmp_path / "fleet" / "broken").rmdir()
    again = shell(check, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr  # every stack in sync now


def test_report_merge_keeps_how_the_stacks_were_checked(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "fleet", tmp_path / "fleet")
    for index in range(2):
        done = shell(
            f"reconciler drift --sandbox --stacks fleet --shard {index}/2 --format json > {index}.json",
            tmp_path,
        )
        assert done.returncode in (0, 2), done.stderr
    merged = shell("reconciler report merge 0.json 1.json", tmp_path)
    assert merged.returncode == 2, merged.stderr
    assert set(next_commands(merged.stdout).values()) == {
        f"reconciler apply --sandbox -f fleet/{name}"
        for name in ("team-a/prod", "team-a/staging", "team-b/prod")
    }


def test_the_next_command_repeats_the_environment_that_chose_postgres_state(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    """Stacks that name their PostgreSQL stack in YAML, the backend and DSN from the environment
    (as a CI job sets them): the next command carries ``RECONCILER_STATE_BACKEND=postgres`` (never
    the DSN), and runs as written in a shell that has only the DSN and the API's settings."""
    sandbox = start_sandbox()
    api = {"SIGNALOID_API_URL": sandbox.signaloid_url, "SIGNALOID_API_KEY": os.environ["SIGNALOID_API_KEY"]}
    person = {**api, "RECONCILER_PG_DSN": postgres_dsn()}
    ci_job = {**person, "RECONCILER_STATE_BACKEND": "postgres"}
    run_id = uuid.uuid4().hex[:8]
    for name in ("a", "b"):
        folder = tmp_path / "fleet" / name
        folder.mkdir(parents=True)
        doc = {"version": 1, "state": {"stack": f"next-{run_id}-{name}"}, "cores": {name: dict(CORE)}}
        (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        assert shell(f"reconciler apply --auto-approve -f fleet/{name}", tmp_path, **ci_job).returncode == 0
    b = tmp_path / "fleet" / "b" / "stack.yaml"
    b.write_text(b.read_text(encoding="utf-8").replace("precision: 128", "precision: 256"), encoding="utf-8")

    checked = shell("reconciler drift --stacks fleet", tmp_path, **ci_job)
    assert checked.returncode == 2, checked.stderr
    command = next_commands(checked.stdout)["fleet/b"]
    assert command == "RECONCILER_STATE_BACKEND=postgres reconciler apply -f fleet/b"
    assert postgres_dsn() not in checked.stdout

    code, applied = at_a_terminal(command, tmp_path, "yes", **person)
    assert code == 0, applied
    assert (
        "State: PostgreSQL state, stack " in applied
        and "Apply complete! Resources: 0 added, 1 changed" in applied
    )
    assert shell("reconciler drift --stacks fleet", tmp_path, **ci_job).returncode == 0
