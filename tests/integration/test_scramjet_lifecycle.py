"""Scramjet sequences through the CLI against the hub emulator served on a real loopback socket, in both
of its profiles: ``documented`` (PUT, 405, 409) and ``hub-0.18.7`` (no PUT, duplicates accepted, thin
instance lists, ``_stop`` held for its timeout), so every path the real 0.18.7 hub takes also runs here.
Every step is checked through the emulator's own HTTP API."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from reconciler.sandbox.scramjet import create_app
from tests.support.cli import RunCli
from tests.support.polling import wait_until
from tests.support.servers import serve_app

COUNTER = Path(__file__).resolve().parents[1] / "support" / "sequences" / "counter"
NAME = "reconciler-test-counter"
TWO = [{"args": [10], "app_config": {"greeting": "hi"}}, {"args": [20]}]


class Hub:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx2.Client(base_url=url, timeout=10.0)

    def names(self) -> Counter[str]:
        return Counter(s["config"]["name"] for s in self.client.get("/sequences").json())

    def ids(self, name: str) -> list[str]:
        return [s["id"] for s in self.client.get("/sequences").json() if s["config"]["name"] == name]

    def instances(self) -> list[tuple[str, list[Any], dict[str, Any]]]:
        """(sequence, args, appConfig) of each running instance (0.18.7 lists only id and sequence)."""
        items = [self.client.get(f"/instance/{i['id']}").json() for i in self.client.get("/instances").json()]
        return sorted((i["sequence"], i["sequenceArgs"], i["appConfig"]) for i in items)


@pytest.fixture(params=["documented", "hub-0.18.7"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def hubs(tmp_path: Path, profile: str) -> Iterator[dict[str, Hub]]:
    with (
        serve_app(create_app(tmp_path / "hub-data", name="a", profile=profile)) as a,
        serve_app(create_app(tmp_path / "hub-data", name="b", profile=profile)) as b,
    ):
        found = {"a": Hub(f"{a}/api/v1"), "b": Hub(f"{b}/api/v1")}
        yield found
        for hub in found.values():
            hub.client.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "stack"
    shutil.copytree(COUNTER, path / "counter")
    return path


def write(folder: Path, hubs: dict[str, Hub], sequences: dict[str, Any]) -> None:
    doc = {
        "version": 1,
        "providers": {
            "scramjet": {"hubs": {n: {"url": h.url} for n, h in hubs.items()}, "health_check_s": 0.3}
        },
        "sequences": sequences,
    }
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def counter(instances: list[Any], hub: str = "a") -> dict[str, Any]:
    return {NAME: {"hub": hub, "package": "./counter", "instances": instances}}


def test_create_update_scale_drift_delete(
    hubs: dict[str, Hub], folder: Path, run_cli: RunCli, profile: str
) -> None:
    hub = hubs["a"]
    write(folder, hubs, counter(TWO))
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    (seq_id,) = hub.ids(NAME)
    assert hub.instances() == [(seq_id, [10], {"greeting": "hi"}), (seq_id, [20], {})]
    state = json.loads((folder / ".reconciler" / "state.json").read_text())["resources"]
    entry = state[f"sequences.{NAME}"]
    assert entry["remote_id"] == f"a/{seq_id}"
    assert entry["state_fields"]["package_digest"].startswith("sha256:")
    assert run_cli("plan", "--detailed-exitcode", "-f", folder).exit_code == 0

    # A new package: on a hub with PUT updated in place (same id); on 0.18.7 replaced (a new id, one
    # copy of the name). Either way the instances run again.
    (folder / "counter" / "index.js").write_text("module.exports = async function* () {};\n")
    result = run_cli("plan", "--detailed-exitcode", "-f", folder)
    how = "updated in place" if profile == "documented" else "must be replaced"
    assert result.exit_code == 2 and how in result.stdout and "package_digest" in result.stdout, result
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    if profile == "documented":
        assert hub.ids(NAME) == [seq_id]
    else:
        (new_id,) = hub.ids(NAME)
        assert new_id != seq_id
        seq_id = new_id
    assert hub.instances() == [(seq_id, [10], {"greeting": "hi"}), (seq_id, [20], {})]
    assert run_cli("plan", "--detailed-exitcode", "-f", folder).exit_code == 0

    # Scale down, then an instance stopped behind our back is drift and is started again.
    write(folder, hubs, counter(TWO[1:]))
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    assert hub.instances() == [(seq_id, [20], {})]
    (inst,) = hub.client.get("/instances").json()
    assert hub.client.post(f"/instance/{inst['id']}/_kill", json={}).status_code == 202
    # 0.18.7 keeps a killed instance until its runner has exited, as the real hub does.
    wait_until(
        lambda: hub.client.get(f"/instance/{inst['id']}").status_code == 404, "the killed instance gone"
    )
    result = run_cli("drift", "-f", folder)
    assert result.exit_code == 2 and "drift" in result.stdout, result
    assert run_cli("apply", "--auto-approve", "-f", folder).exit_code == 0
    assert hub.instances() == [(seq_id, [20], {})]

    # Lost state: found again by (hub, name) and adopted, never uploaded twice; then in sync.
    (folder / ".reconciler" / "state.json").unlink()
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0 and "adopting" in result.stdout, result
    assert hub.names() == Counter({NAME: 1})
    assert run_cli("plan", "--detailed-exitcode", "-f", folder).exit_code == 0

    # Moving it to another hub is a replace; destroy stops instances before deleting (no 409).
    write(folder, hubs, counter(TWO[1:], hub="b"))
    result = run_cli("apply", "--auto-approve", "-f", folder)
    assert result.exit_code == 0 and "replaced" in result.stdout, result
    assert (hub.names(), hubs["b"].names()) == (Counter(), Counter({NAME: 1}))
    result = run_cli("destroy", "--auto-approve", "-f", folder)
    assert result.exit_code == 0 and not re.search(r"\b409\b", result.output), result  # not in an id
    assert hubs["b"].names() == Counter() and hubs["b"].instances() == []


def test_crash_at_load_fails_the_apply_and_is_owned(
    hubs: dict[str, Hub], folder: Path, run_cli: RunCli
) -> None:
    manifest = json.loads((folder / "counter" / "package.json").read_text())
    manifest["scramjet"] = {"sandbox": {"crash": True}}
    (folder / "counter" / "package.json").write_text(json.dumps(manifest))
    write(folder, hubs, counter(TWO[:1]))
    result = run_cli("apply", "--auto-approve", "-f", folder)
    (seq_id,) = hubs["a"].ids(NAME)
    assert result.exit_code == 1
    assert f"{NAME} ({seq_id}) crashed at start" in result.output, result
    assert "crashed while loading" in result.output  # what the hub logged
    # Recorded in state: the next run retries the start instead of adopting or uploading again.
    result = run_cli("plan", "--detailed-exitcode", "-f", folder)
    assert result.exit_code == 2 and "instances" in result.stdout and "adopting" not in result.stdout
    assert run_cli("destroy", "--auto-approve", "-f", folder).exit_code == 0
    assert hubs["a"].names() == Counter()


def test_validate_rejects_a_package_named_otherwise(
    hubs: dict[str, Hub], folder: Path, run_cli: RunCli
) -> None:
    write(folder, hubs, {"counter": {"hub": "a", "package": "./counter"}})
    result = run_cli("validate", "-f", folder)
    assert result.exit_code == 1
    assert f"stack.yaml:{_line_of(folder / 'stack.yaml', 'counter:')}" in result.stderr, result
    assert "package.json name is 'reconciler-test-counter'" in result.stderr
    assert "package.json:2" in result.stderr


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == needle)
