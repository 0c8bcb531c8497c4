"""Issue 18.5: a create whose outcome is unknown (journal intent, no result) stays tracked until it is
resolved by natural key, even when the resource has left the YAML before the next run.

The journal is written exactly as a killed apply leaves it: the run header and the create's intent,
no result and no end (tests/integration/test_crash_safety.py kills real processes to get there). The
object the create made exists in the sandbox and is in no state entry, as after a kill between the
API answer and the state write.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.engine.executing.journal import key_digest
from reconciler.engine.executing.pending import PendingCreate, pending_creates, resolve
from reconciler.kinds import KINDS, KindRegistry
from reconciler.kinds.base import Kind, SpecModel
from reconciler.state.base import StateEntry, StateSnapshot
from reconciler.values import LiveObject, LiveState

CORE = {"class": "C0", "microarchitecture": "Athens", "precision": 64, "memory_size": 256000,
        "correlation_tracking": "Disable"}  # fmt: skip
ENV = {"NO_COLOR": "1"}


def write(folder: Path, names: list[str], hook_url: str | None = None) -> None:
    doc: dict[str, object] = {"version": 1, "cores": {n: CORE for n in names}}
    if hook_url is not None:
        doc["webhooks"] = {"ci": {"url": hook_url, "events": ["task-status"]}}
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def run(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--sandbox", "-f", str(folder)], env=ENV)
    return result.exit_code, result.output


def state(folder: Path) -> dict[str, dict[str, object]]:
    doc = json.loads((folder / ".reconciler" / "sandbox" / "state.json").read_text(encoding="utf-8"))
    return doc["resources"]


def killed_while_creating(folder: Path, address: str, key: tuple[str, ...], kind: str = "cores") -> None:
    """The journal a SIGKILL leaves when ``address``'s create was in flight."""
    journal = folder / ".reconciler" / "sandbox" / "journal.jsonl"
    lines = [
        {"event": "run", "run": "killed", "pid": 4242, "host": "h", "at": time.time()},
        {"event": "intent", "id": "c1", "address": address, "action": "create", "remote_id": None,
         "kind": kind, "key": key_digest(key), "at": time.time()},
    ]  # fmt: skip
    journal.write_text("".join(json.dumps(rec) + "\n" for rec in lines), encoding="utf-8")


def live_cores(folder: Path) -> dict[str, str]:
    code, out = run(folder, "plan", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    found = {c["address"]: c["remote_id"] for c in doc["changes"] if c["remote_id"]}
    found.update({f"unmanaged:{o['name']}": o["remote_id"] for o in doc["unmanaged"]})
    return found


def lose_state_of(folder: Path, address: str) -> str:
    """The create landed, the state write did not: drop ``address`` from state, return its id."""
    remote_id = live_cores(folder)[address]
    code, out = run(folder, "state", "rm", address)
    assert code == 0, out
    return remote_id


def test_a_create_in_flight_then_removed_from_the_yaml_is_adopted_and_deleted(tmp_path: Path) -> None:
    write(tmp_path, ["a", "b"])
    assert run(tmp_path, "apply", "--auto-approve")[0] == 0
    orphan = lose_state_of(tmp_path, "cores.b")
    killed_while_creating(tmp_path, "cores.b", ("b",))
    write(tmp_path, ["a"])  # the user removes it before re-running

    code, out = run(tmp_path, "plan", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    change = next(c for c in doc["changes"] if c["address"] == "cores.b")
    assert (change["action"], change["remote_id"]) == ("delete", orphan)
    assert "interrupted apply" in change["reason"]
    assert doc["unmanaged"] == []

    code, out = run(tmp_path, "apply", "--auto-approve")
    assert code == 0, out
    assert "cores.b: " in out, out
    assert orphan not in live_cores(tmp_path).values()
    assert set(state(tmp_path)) == {"cores.a"}


def test_a_create_in_flight_whose_key_changed_in_the_yaml_leaves_no_orphan(tmp_path: Path) -> None:
    old_url, new_url = "https://hooks.example.com/old", "https://hooks.example.com/new"
    write(tmp_path, ["a"], hook_url=old_url)
    assert run(tmp_path, "apply", "--auto-approve")[0] == 0
    orphan = lose_state_of(tmp_path, "webhooks.ci")
    killed_while_creating(tmp_path, "webhooks.ci", (old_url,), kind="webhooks")
    write(tmp_path, ["a"], hook_url=new_url)  # same address, another natural key (the URL)

    code, out = run(tmp_path, "apply", "--auto-approve")
    assert code == 0, out
    assert "interrupted apply" in out, out
    live = live_cores(tmp_path)
    assert orphan in live.values() or live["webhooks.ci"] != orphan
    assert not [a for a in live if a.startswith("unmanaged:")], live
    code, out = run(tmp_path, "plan", "--detailed-exitcode")
    assert code == 0, out


def test_the_adoption_is_recorded_before_the_new_journal_replaces_the_old(tmp_path: Path) -> None:
    """Even if the re-run dies before its delete, the object is in state: tracked, never orphaned."""
    write(tmp_path, ["a", "b"])
    assert run(tmp_path, "apply", "--auto-approve")[0] == 0
    orphan = lose_state_of(tmp_path, "cores.b")
    killed_while_creating(tmp_path, "cores.b", ("b",))
    write(tmp_path, ["a"])
    code, out = run(tmp_path, "apply", "--target", "cores.a")  # nothing to do for cores.a: no journal begun
    assert code == 0, out
    code, out = run(tmp_path, "apply", "--auto-approve", "--target", "cores.b")
    assert code == 0, out
    assert orphan not in live_cores(tmp_path).values()


def test_resolution_by_natural_key_is_pure_and_never_takes_an_owned_or_ambiguous_object() -> None:
    live = LiveState()
    objects = [("cor_1", "x"), ("cor_2", "y"), ("cor_3", "y"), ("cor_4", "z")]
    live.extend("cores", [LiveObject("cores", i, (n,), {}, n) for i, n in objects])
    owned = StateSnapshot({"cores.z": StateEntry("cores", "cor_4", ("z",), "d")})
    pending = [PendingCreate("cores.x", "cores", key_digest(("x",))),
               PendingCreate("cores.y", "cores", key_digest(("y",))),
               PendingCreate("cores.z2", "cores", key_digest(("z",))),
               PendingCreate("cores.w", "cores", key_digest(("w",)))]  # fmt: skip
    found = resolve(pending, live, owned, [])
    assert {a: e.remote_id for a, e in found.entries.items()} == {"cores.x": "cor_1"}
    assert len(found.warnings) == 1 and "cores.y" in found.warnings[0] and "cor_2, cor_3" in found.warnings[0]
    unfinished = [{"address": "cores.x", "action": "create", "kind": "cores", "key": key_digest(("x",))},
                  {"address": "cores.q", "action": "delete", "remote_id": "cor_9"},
                  {"address": "cores.old", "action": "create"}]  # fmt: skip
    assert pending_creates(unfinished) == [pending[0]]


def test_a_saved_plan_deletes_what_an_interrupted_create_made(tmp_path: Path) -> None:
    write(tmp_path, ["a", "b"])
    assert run(tmp_path, "apply", "--auto-approve")[0] == 0
    orphan = lose_state_of(tmp_path, "cores.b")
    killed_while_creating(tmp_path, "cores.b", ("b",))
    write(tmp_path, ["a"])
    saved = tmp_path / "reviewed.plan"
    code, out = run(tmp_path, "plan", "--out", str(saved))
    assert code == 0 and "interrupted apply" in out, out
    code, out = run(tmp_path, "apply", str(saved))
    assert code == 0, out
    assert orphan not in live_cores(tmp_path).values()
    assert set(state(tmp_path)) == {"cores.a"}


def test_pending_creates_and_their_resolution_know_the_kinds_they_are_given() -> None:
    class GadgetSpec(SpecModel):
        label: str

    gadgets = Kind(name="gadgets", provider="gadgetry", spec=GadgetSpec, summary="test gadgets",
                   natural_key=lambda name, attrs: (name,), key_doc="the gadget name")  # fmt: skip
    registry = KindRegistry((*KINDS, gadgets))
    unfinished = [{"address": "gadgets.g", "action": "create", "kind": "gadgets", "key": key_digest(("g",))}]
    assert pending_creates(unfinished) == []  # the shipped registry has no such kind
    pending = pending_creates(unfinished, registry)
    assert pending == [PendingCreate("gadgets.g", "gadgets", key_digest(("g",)))]
    live = LiveState()
    live.extend(
        "gadgets",
        [LiveObject("gadgets", "gad_1", ("g",), {}, "g"), LiveObject("gadgets", "gad_0", ("g",), {}, "g")],
    )
    # gad_0 is a deposed object of another entry: still owned, so only gad_1 can be the one created.
    owned = StateSnapshot({"gadgets.h": StateEntry("gadgets", "gad_9", ("h",), "d", deposed=("gad_0",))})
    found = resolve(pending, live, owned, [], registry)
    assert {a: e.remote_id for a, e in found.entries.items()} == {"gadgets.g": "gad_1"}
