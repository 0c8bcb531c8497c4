"""The Scramjet provider against a REAL Transform Hub 0.18.7 (no PUT, duplicate names accepted).

One lifecycle through the CLI, checked each time against the hub's own ``/sequences`` and
``/instances`` (plain httpx2, no provider code): apply a Node sequence with two instances, re-plan
empty, change the package (a replace, as 0.18.7 has no PUT), scale down, an instance killed behind
our back (drift, then restarted), a sequence that crashes at load (the apply fails naming it), delete.
No sequence name is ever held twice. When the hub is not installed: fail under CI, else skip loudly.
The same lifecycle also runs against the emulator's ``hub-0.18.7`` profile, which must pass it unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
import yaml

from reconciler.sandbox.scramjet import create_app
from tests.support.cli import RunCli
from tests.support.polling import wait_until
from tests.support.scramjet_hub import RealHub, group_alive, require_hub
from tests.support.servers import serve_app

pytestmark = pytest.mark.hub

COUNTER = Path(__file__).resolve().parents[1] / "support" / "sequences" / "counter"
NAME = "reconciler-test-counter"


@pytest.fixture(params=["real", "emulator"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "emulator":
        # "crasher" throws at load on the real hub; the emulator is told to crash it the same way.
        app = create_app(tmp_path / "emulated-hub", profile="hub-0.18.7", crash_packages=["crasher"])
        with serve_app(app) as base:
            yield SimpleNamespace(url=f"{base}/api/v1")
        return
    require_hub()
    real = RealHub()
    with real:
        yield real
    assert real.pgid is not None and not group_alive(real.pgid), "hub or runner processes survived stop()"


class HubView:
    """What the hub itself says, read with plain httpx2."""

    def __init__(self, url: str) -> None:
        self.client = httpx2.Client(base_url=url, timeout=15.0)

    def sequences(self) -> list[dict[str, Any]]:
        return list(self.client.get("/sequences").json())

    def ids(self, name: str) -> list[str]:
        return [s["id"] for s in self.sequences() if s["config"]["name"] == name]

    def names(self) -> Counter[str]:
        return Counter(s["config"]["name"] for s in self.sequences())

    def instances(self) -> dict[str, tuple[str, Any, Any]]:
        """Running instances: id -> (sequence, args, appConfig), from GET /instance/:id."""
        found = {}
        for item in self.client.get("/instances").json():
            detail = self.client.get(f"/instance/{item['id']}")
            if detail.status_code == 200:
                body = detail.json()
                found[item["id"]] = (body["sequence"], body.get("sequenceArgs"), body.get("appConfig"))
        return found


def write_stack(folder: Path, url: str, sequences: dict[str, Any]) -> None:
    doc = {
        "version": 1,
        "providers": {"scramjet": {"hubs": {"local": {"url": url}}, "health_check_s": 1.5}},
        "sequences": sequences,
    }
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def counter(instances: list[Any]) -> dict[str, Any]:
    return {NAME: {"hub": "local", "package": "./counter", "instances": instances}}


def test_lifecycle_on_a_real_hub(hub: RealHub | SimpleNamespace, run_cli: RunCli, tmp_path: Path) -> None:
    view = HubView(hub.url)
    folder = tmp_path / "stack"
    shutil.copytree(COUNTER, folder / "counter")
    two = [{"args": [10], "app_config": {"greeting": "hi"}}, {"args": [20]}]
    write_stack(folder, hub.url, counter(two))
    stack = ["-f", folder]

    # Create: one sequence, two instances with the declared args and appConfig; a re-plan is empty.
    result = run_cli("apply", "--auto-approve", *stack)
    assert result.exit_code == 0, result
    (first_id,) = view.ids(NAME)
    running = view.instances()
    assert sorted((s, a, c or {}) for s, a, c in running.values()) == [
        (first_id, [10], {"greeting": "hi"}),
        (first_id, [20], {}),
    ]
    result = run_cli("plan", "--detailed-exitcode", *stack)
    assert result.exit_code == 0, result

    # A changed package: 0.18.7 has no PUT, so the plan says replace; no duplicate is ever left.
    with (folder / "counter" / "index.js").open("a", encoding="utf-8") as fh:
        fh.write("// v2\n")
    result = run_cli("plan", "--detailed-exitcode", *stack)
    assert result.exit_code == 2 and "replace" in result.stdout and "no PUT" in result.stdout, result
    result = run_cli("apply", "--auto-approve", *stack)
    assert result.exit_code == 0, result
    (second_id,) = view.ids(NAME)
    assert second_id != first_id and view.names()[NAME] == 1
    assert sorted(a for s, a, _ in view.instances().values() if s == second_id) == [[10], [20]]
    assert run_cli("plan", "--detailed-exitcode", *stack).exit_code == 0

    # Scale down to one instance.
    write_stack(folder, hub.url, counter(two[:1]))
    result = run_cli("apply", "--auto-approve", *stack)
    assert result.exit_code == 0, result
    wait_until(lambda: len(view.instances()) == 1, "one instance")
    ((inst_id, (seq, args, config)),) = view.instances().items()
    assert (seq, args, config) == (second_id, [10], {"greeting": "hi"})
    assert run_cli("plan", "--detailed-exitcode", *stack).exit_code == 0

    # Killed behind our back: drift reports it (exit 2), apply starts it again.
    assert view.client.post(f"/instance/{inst_id}/_kill", json={}).status_code == 202
    wait_until(lambda: not view.instances(), "the killed instance to go")
    result = run_cli("drift", *stack)
    assert result.exit_code == 2 and "instances" in result.stdout, result
    result = run_cli("apply", "--auto-approve", *stack)
    assert result.exit_code == 0, result
    ((new_inst, (seq, args, _)),) = view.instances().items()
    assert new_inst != inst_id and (seq, args) == (second_id, [10])
    assert run_cli("drift", *stack).exit_code == 0

    # A sequence that crashes at load fails the apply with its id and what the hub logged.
    crasher = folder / "crasher"
    crasher.mkdir()
    (crasher / "package.json").write_text(
        json.dumps({"name": "crasher", "version": "1.0.0", "main": "index.js"})
    )
    (crasher / "index.js").write_text('throw new Error("boom");\n')
    sequences = {**counter(two[:1]), "crasher": {"hub": "local", "package": "./crasher", "instances": [{}]}}
    write_stack(folder, hub.url, sequences)
    result = run_cli("apply", "--auto-approve", *stack)
    (crasher_id,) = view.ids("crasher")
    assert result.exit_code == 1, result
    assert f"crasher ({crasher_id}) crashed at start" in result.output, result
    assert "Sequence finished with error" in result.output, result
    assert view.names() == Counter({NAME: 1, "crasher": 1})

    # Delete: instances first, then the sequence (no 409 ever shows); nothing is left on the hub.
    write_stack(folder, hub.url, counter(two[:1]))
    result = run_cli("apply", "--auto-approve", *stack)
    assert result.exit_code == 0, result
    assert view.names() == Counter({NAME: 1})
    result = run_cli("destroy", "--auto-approve", *stack)
    assert result.exit_code == 0 and not re.search(r"\b409\b", result.output), result  # not in an id
    assert view.sequences() == []
    wait_until(lambda: not view.instances(), "no instances")
    view.client.close()
