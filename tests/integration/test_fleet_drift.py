"""``drift --stacks DIR`` against the emulators over a loopback socket: one process checks a fleet,
a broken stack or an API that is down is reported without hiding the others, the shards of N
partition the fleet and merge back into the same report, all stacks on one endpoint share its
connections and its concurrency limit, nothing is written, and ``--notify`` sends one summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.cli import RunCli
from tests.support.counting import Counting
from tests.support.fleet import applied_fleet, drift_outside, write_stack
from tests.support.sandbox import Sandbox, StartSandbox
from tests.support.servers import closed_port
from tests.support.signaloid import core_patch
from tests.support.webhooks import receive_webhooks


@pytest.fixture
def counted(start_sandbox: StartSandbox) -> tuple[Sandbox, Counting]:
    sandbox = start_sandbox(wrap=Counting, latency_ms=10)
    return sandbox, sandbox.app


def test_one_process_reports_every_stack_and_errors_do_not_hide_drift(
    tmp_path: Path, run_cli: RunCli, counted: tuple[Sandbox, Counting]
) -> None:
    sandbox, server = counted
    root = tmp_path / "fleet"
    folders = applied_fleet(root, run_cli, 4)
    drift_outside(sandbox.signaloid_url, "key-1", "s1-a", 32)
    stack_yaml = folders[2] / "stack.yaml"
    stack_yaml.write_text(stack_yaml.read_text().replace("precision: 64", "precision: 96"))
    assert run_cli("drift", "--stacks", root).exit_code == 2  # drift and pending config, nothing broken
    (root / "broken").mkdir()
    (root / "broken" / "stack.yaml").write_text("version: 1\ncores:\n  x: { class: C0, precison: 3 }\n")
    write_stack(root / "down", {"d": 128}, api_key="key-down", url=f"http://127.0.0.1:{closed_port()}")
    states = {f: f.joinpath(".reconciler", "state.json").read_bytes() for f in folders}
    server.reset()

    result = run_cli("drift", "--stacks", root, "--format", "json")

    assert result.exit_code == 1, result  # an errored stack wins over drift
    report = result.json()
    status = {s["name"].removeprefix(f"{root.as_posix()}/"): s for s in report["stacks"]}
    assert {n: s["status"] for n, s in status.items()} == {
        "broken": "errored",
        "down": "errored",
        "team-0/env-0": "in_sync",
        "team-0/env-2": "pending",
        "team-1/env-1": "drifted",
        "team-1/env-3": "in_sync",
    }
    assert "broken/stack.yaml:3:19: cores.x.precison: unknown field 'precison'" in status["broken"]["error"]
    assert "cannot connect" in status["down"]["error"]
    drifted = status["team-1/env-1"]["changes"]
    fields = [(f["path"], f["cause"], f["before"], f["after"]) for c in drifted for f in c["fields"]]
    assert [(c["address"], c["cause"]) for c in drifted] == [("cores.s1-a", "drift")]
    assert fields == [("precision", "drift", 32, 128)]
    assert status["team-0/env-2"]["changes"][0]["cause"] == "config"
    assert report["summary"]["resources"] == {"drifted": 1, "pending": 1, "in_sync": 6}
    assert set(server.methods) == {"GET"}, server.methods  # read-only
    assert {f: f.joinpath(".reconciler", "state.json").read_bytes() for f in folders} == states
    assert not (root / "team-0" / "env-0" / ".reconciler" / "lock").exists()
    assert "team-1/env-1: drifted (1 change)" in result.stderr
    assert "6 stacks: 2 errored, 1 drifted, 1 pending config, 2 in sync" in result.stderr

    markdown = run_cli("drift", "--stacks", root, "--format", "markdown")
    assert markdown.exit_code == 1
    assert "  - `precision` (drift): `32` → `128`" in markdown.stdout


def test_a_yaml_edit_and_an_out_of_band_edit_on_one_core_report_each_field_with_its_cause(
    tmp_path: Path, run_cli: RunCli, sandbox_server: Sandbox
) -> None:
    """Issue 13's per-field causes reach the fleet report: the YAML changed precision while someone
    changed memory_size on the API: the stack is drifted, each field names its own cause."""
    root = tmp_path / "fleet"
    (folder,) = applied_fleet(root, run_cli, 1)
    stack_yaml = folder / "stack.yaml"
    stack_yaml.write_text(stack_yaml.read_text().replace("precision: 128", "precision: 256"))
    with httpx2.Client(base_url=sandbox_server.signaloid_url, headers={"Authorization": "key-0"}) as api:
        core = next(c for c in api.get("/cores").json()["Cores"] if c["Name"] == "s0-a")
        assert (
            api.patch(f"/cores/{core['CoreID']}", json=core_patch(core, MemorySize=512000)).status_code == 200
        )

    result = run_cli("drift", "--stacks", root, "--format", "json")

    assert result.exit_code == 2, result
    (stack,) = result.json()["stacks"]
    (changed,) = stack["changes"]
    assert (stack["status"], changed["address"], changed["causes"]) == (
        "drifted",
        "cores.s0-a",
        ["config", "drift"],
    )
    causes = {f["path"]: (f["cause"], f["before"], f["after"]) for f in changed["fields"]}
    assert causes == {"precision": ("config", 128, 256), "memory_size": ("drift", 512000, 256000)}
    prom = run_cli("drift", "--stacks", root, "--format", "prometheus").stdout
    for cause in ("config", "drift"):
        assert (
            f'reconciler_drift_resources{{cause="{cause}",kind="cores",stack="{folder.as_posix()}"}} 1.0'
            in prom
        )


def test_all_stacks_on_one_endpoint_share_its_connections_and_limit(
    tmp_path: Path, run_cli: RunCli, counted: tuple[Sandbox, Counting]
) -> None:
    _, server = counted
    applied_fleet(tmp_path / "fleet", run_cli, 8)
    server.reset()
    result = run_cli("drift", "--stacks", tmp_path / "fleet", "--per-endpoint", "2", "--max-stacks", "8")
    assert result.exit_code == 0, result
    assert server.methods["GET"] >= 8 * 3
    assert server.peak <= 2, server.peak
    assert len(server.clients) <= 4, server.clients  # one pool of at most 2 x limit, not one per stack
    server.reset()
    assert run_cli("drift", "--stacks", tmp_path / "fleet", "--per-endpoint", "16").exit_code == 0
    assert server.peak > 2  # the same fleet without the limit does go wider: the check above can fail


def test_stacks_of_one_account_list_the_default_cores_once_per_run_other_accounts_their_own(
    tmp_path: Path, run_cli: RunCli, counted: tuple[Sandbox, Counting]
) -> None:
    _, server = counted
    root = tmp_path / "fleet"
    for i in range(3):  # one account (the same key on the same endpoint), three projects
        folder = write_stack(root / "shared" / f"p{i}", {f"p{i}-core": 128}, api_key="team-key")
        assert run_cli("apply", "-f", folder, "--auto-approve").exit_code == 0
    applied_fleet(root / "own", run_cli, 2)  # two more accounts: key-0, key-1
    server.reset()

    result = run_cli("drift", "--stacks", root, "--format", "json")

    assert result.exit_code == 0, result
    assert result.json()["summary"]["in_sync"] == 5
    assert server.default_core_lists == 1 + 2, server.default_core_lists
    assert server.methods["GET"] == 5 * 3 + 3  # cores, repositories, webhooks per stack


def test_shards_partition_the_fleet_and_merge_back_into_the_whole_report(
    tmp_path: Path, run_cli: RunCli, counted: tuple[Sandbox, Counting]
) -> None:
    sandbox, _ = counted
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 7)
    drift_outside(sandbox.signaloid_url, "key-3", "s3-b", 16)
    whole = run_cli("drift", "--stacks", root, "--format", "json")
    assert whole.exit_code == 2, whole
    files = []
    for index in range(3):
        shard = run_cli("drift", "--stacks", root, "--shard", f"{index}/3", "--format", "json")
        assert shard.exit_code in (0, 2), shard
        files.append(tmp_path / f"shard-{index}.json")
        files[-1].write_text(shard.stdout)
    names = [[s["name"] for s in json.loads(f.read_text())["stacks"]] for f in files]
    assert sorted(n for part in names for n in part) == [s["name"] for s in whole.json()["stacks"]]

    merged = run_cli("report", "merge", *files, "--format", "json")
    assert merged.exit_code == 2, merged
    strip = {"checked_at", "duration_s"}
    assert [{k: v for k, v in s.items() if k not in strip} for s in merged.json()["stacks"]] == [
        {k: v for k, v in s.items() if k not in strip} for s in whole.json()["stacks"]
    ]
    assert merged.json()["summary"] == whole.json()["summary"]

    incomplete = run_cli("report", "merge", files[0], files[2], "--format", "markdown")
    assert incomplete.exit_code == 1
    assert "no report from shard 1 of 3" in incomplete.stderr
    assert "**Incomplete: no report from shard 1.**" in incomplete.stdout


def test_usage_mistakes_are_one_clear_error(tmp_path: Path, run_cli: RunCli) -> None:
    write_stack(tmp_path / "fleet" / "a", {"x": 128})
    cases = {
        ("--stacks", tmp_path / "fleet", "--shard", "3/3"): "--shard: expected 0 <= I < N in I/N, got '3/3'",
        ("--shard", "0/2"): "--shard needs --stacks DIR",
        ("--max-stacks", "4"): "--max-stacks needs --stacks DIR",
        ("--format", "html"): "--format html needs --stacks DIR",
        ("--stacks", tmp_path / "nothing"): "--stacks needs a directory",
        ("--stacks", tmp_path / "fleet", "-f", tmp_path): "-f and --stacks do not go together",
    }
    for args, message in cases.items():
        result = run_cli("drift", *args)
        assert result.exit_code == 1, result
        assert message in result.stderr, result
        assert "Traceback" not in result.output


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with receive_webhooks() as hook:
        yield hook


def test_notify_sends_one_summary_per_fleet_run(
    tmp_path: Path,
    run_cli: RunCli,
    counted: tuple[Sandbox, Counting],
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    sandbox, _ = counted
    url, received = receiver
    applied_fleet(tmp_path / "fleet", run_cli, 3)
    drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 8)
    result = run_cli("drift", "--stacks", tmp_path / "fleet", "--notify", url)
    assert result.exit_code == 2, result
    assert len(received) == 1
    message = received[0]
    assert message["summary"]["stacks"] == 3 and message["summary"]["drifted"] == 1
    assert message["text"].startswith("reconciler fleet drift: 3 stacks: 1 drifted, 2 in sync (")
    assert [s["name"].rsplit("/", 2)[-2:] for s in message["stacks"]] == [["team-0", "env-0"]]
    assert "S3CRET" not in result.output and "Fleet summary sent to http://127.0.0.1" in result.stderr
