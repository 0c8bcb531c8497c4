"""Pure plan() for the Steamship kinds and the generic hooks they use: delete_guard (refused unless
allowed), tainted objects (replaced), partial config mappings, and references by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import load_stack
from reconciler.engine.deciding.changes import Reason
from reconciler.engine.deciding.plan import Action, Cause, Plan, plan
from reconciler.errors import PlanError
from reconciler.kinds.package_instances import NO_UPDATE
from reconciler.state.base import StateEntry, StateSnapshot, digest
from reconciler.values import Desired, LiveObject, LiveState

WS_ID = "WS-RESEARCH"


def desired(tmp_path: Path, **sections: Any) -> list[Desired]:
    stack = tmp_path / "stack.yaml"
    stack.write_text(yaml.safe_dump({"version": 1, **sections}), encoding="utf-8")
    return load_stack([stack], {}).resources


def ws(handle: str = "research", remote_id: str = WS_ID) -> LiveObject:
    return LiveObject("workspaces", remote_id, (handle,), {}, handle)


def inst(
    handle: str, remote_id: str, ws_handle: str = "research", init_status: str = "complete", **attrs: Any
) -> LiveObject:
    full = {"workspace": ws_handle, "package": "summarize-text", "version": "1.2.0", **attrs}
    full.setdefault("config", {"model": "gpt-4", "max_words": 100})
    extra = {
        "workspace_id": WS_ID if ws_handle == "research" else f"WS-{ws_handle}",
        "init_status": init_status,
    }
    return LiveObject("package_instances", remote_id, (ws_handle, handle), full, handle, extra=extra)


def live_of(*objects: LiveObject) -> LiveState:
    live = LiveState()
    for obj in objects:
        live.add(obj)
    return live


def state_of(resources: list[Desired], ids: dict[str, str]) -> StateSnapshot:
    by_address = {r.address: r for r in resources}
    entries = {}
    for address, remote_id in ids.items():
        kind = address.split(".", 1)[0]
        attrs = by_address[address].attrs if address in by_address else {}
        entries[address] = StateEntry(kind, remote_id, (), digest(attrs))
    return StateSnapshot(entries)


def by_address(p: Plan) -> dict[str, Any]:
    return {c.address: c for c in p.changes}


SUMMARIZER = {"workspace": "research", "package": "summarize-text", "version": "1.2.0"}


def test_a_config_with_the_engines_defaults_filled_in_is_up_to_date(tmp_path: Path) -> None:
    res = desired(
        tmp_path,
        workspaces={"research": {}},
        package_instances={"s": {**SUMMARIZER, "config": {"max_words": "100", "model": "gpt-4"}}},
    )
    p = plan(
        res,
        live_of(ws(), inst("s", "I1")),
        state_of(res, {"workspaces.research": WS_ID, "package_instances.s": "I1"}),
    )
    assert not p.has_changes(), p.to_json()


def test_a_config_change_is_a_replace_naming_the_field(tmp_path: Path) -> None:
    res = desired(
        tmp_path,
        workspaces={"research": {}},
        package_instances={"s": {**SUMMARIZER, "config": {"model": "gpt-4", "max_words": 300}}},
    )
    p = plan(
        res,
        live_of(ws(), inst("s", "I1")),
        state_of(res, {"workspaces.research": WS_ID, "package_instances.s": "I1"}),
    )
    change = by_address(p)["package_instances.s"]
    assert change.action is Action.REPLACE
    assert change.reason == f"config.max_words cannot be updated in place: {NO_UPDATE}"
    assert change.to_json()["fields"] == [
        {
            "path": "config.max_words",
            "op": "change",
            "before": 100,
            "after": 300,
            "sensitive": False,
            "after_unknown": False,
            "forces_replacement": True,
            "cause": "drift",  # state_of records the YAML as it is: the live object moved
        }
    ]


def test_an_instance_whose_init_failed_is_replaced_even_when_its_fields_match(tmp_path: Path) -> None:
    res = desired(tmp_path, workspaces={"research": {}}, package_instances={"s": {**SUMMARIZER}})
    broken = inst("s", "I1", init_status="failed")
    p = plan(
        res, live_of(ws(), broken), state_of(res, {"workspaces.research": WS_ID, "package_instances.s": "I1"})
    )
    change = by_address(p)["package_instances.s"]
    assert (change.action, change.cause, change.fields) == (Action.REPLACE, Cause.DRIFT, ())
    assert change.reason.startswith("its initialisation failed")
    assert change.reason_code is Reason.TAINTED


def test_deleting_a_workspace_with_unmanaged_instances_is_refused_naming_them(tmp_path: Path) -> None:
    live = live_of(ws(), inst("mine", "I1"), inst("theirs", "I2"))
    state = StateSnapshot(
        {
            "workspaces.research": StateEntry("workspaces", WS_ID, ("research",), ""),
            "package_instances.mine": StateEntry("package_instances", "I1", ("research", "mine"), ""),
        }
    )
    p = plan([], live, state)
    refused = by_address(p)["workspaces.research"].refused
    assert refused is not None
    assert "package_instances 'theirs' (I2)" in refused and "'mine'" not in refused
    assert "--allow-delete-unmanaged workspaces.research" in refused
    assert by_address(p)["package_instances.mine"].refused is None
    assert p.to_json()["errors"] == [refused]

    allowed = plan([], live, state, allow_delete_unmanaged=["workspaces.research"])
    assert by_address(allowed)["workspaces.research"].refused is None
    assert any("package_instances 'theirs'" in w for w in allowed.warnings)


def test_instance_deletes_run_before_their_workspace_delete(tmp_path: Path) -> None:
    live = live_of(ws(), inst("mine", "I1"))
    state = StateSnapshot(
        {
            "workspaces.research": StateEntry("workspaces", WS_ID, ("research",), ""),
            "package_instances.mine": StateEntry("package_instances", "I1", ("research", "mine"), ""),
        }
    )
    p = plan([], live, state)
    assert by_address(p)["workspaces.research"].depends_on == ("package_instances.mine",)


def test_a_workspace_removed_from_the_yaml_while_an_instance_names_it_is_an_error(tmp_path: Path) -> None:
    res = desired(tmp_path, package_instances={"s": {**SUMMARIZER}})
    state = StateSnapshot(
        {
            "workspaces.research": StateEntry("workspaces", WS_ID, ("research",), ""),
            "package_instances.s": StateEntry(
                "package_instances", "I1", ("research", "s"), digest(res[0].attrs)
            ),
        }
    )
    with pytest.raises(
        PlanError, match=r"package_instances\.s: workspace 'research' is workspaces\.research"
    ):
        plan(res, live_of(ws(), inst("s", "I1")), state)


def test_an_instance_in_a_new_workspace_waits_for_it(tmp_path: Path) -> None:
    res = desired(tmp_path, workspaces={"research": {}}, package_instances={"s": {**SUMMARIZER}})
    p = plan(res, LiveState(), StateSnapshot())
    change = by_address(p)["package_instances.s"]
    assert change.action is Action.CREATE and change.depends_on == ("workspaces.research",)
    assert {f.path: f.after for f in change.fields}["workspace"] == "research"


def test_an_instance_may_name_an_existing_workspace_the_stack_does_not_declare(tmp_path: Path) -> None:
    res = desired(tmp_path, package_instances={"s": {**SUMMARIZER, "workspace": "shared"}})
    p = plan(res, live_of(ws("shared", "WS-S")), StateSnapshot())
    assert by_address(p)["package_instances.s"].depends_on == ()
