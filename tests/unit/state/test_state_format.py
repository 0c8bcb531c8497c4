"""State format 2 (docs/state-format.md): typed entries, format 1 files still read and written back.

``tests/fixtures/state_v1`` is real: on main at 70e12a9 (state format 1), in a copy of that folder,
``reconciler apply --sandbox --auto-approve -f .`` created its six resources against the built-in
emulators; ``.reconciler/sandbox/`` (the state file and the emulators' data, less the journal) was
then copied to ``sandbox/``. The test copies it back, so the emulators hold exactly the objects
that state file describes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import StateError
from reconciler.state import LocalStateStore, StateEntry
from reconciler.state.base import entries_from_json
from reconciler.state.entry import FORMAT_VERSION

FIXTURE = Path(__file__).parents[2] / "fixtures" / "state_v1"


@pytest.fixture
def old_stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("sandbox"))
    shutil.copytree(FIXTURE / "sandbox", folder / ".reconciler" / "sandbox")
    return folder


def state_path(folder: Path) -> Path:
    return folder / ".reconciler" / "sandbox" / "state.json"


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_a_format_1_file_reads_into_typed_places(old_stack: Path) -> None:
    entries = LocalStateStore(state_path(old_stack)).read().entries
    core = entries["cores.fast-athens"]
    assert core.prevent_destroy is True and core.deposed == ()
    assert core.applied_fields["precision"] == "fe01a828bc787a60"
    assert (core.state_fields, core.provider_data) == ({}, {})
    sequence = entries["sequences.hello-counter"]
    assert set(sequence.state_fields) == {"package_digest"}  # the kind's state field, not the provider's
    assert sequence.state_fields["package_digest"].startswith("sha256:")
    assert sequence.provider_data == {} and sequence.prevent_destroy is False
    instance = entries["package_instances.summarizer"]
    assert instance.provider_data["workspace_id"] == entries["workspaces.research"].remote_id
    assert set(instance.provider_data) == {"init_status", "invocation_url", "workspace_id"}
    assert instance.state_fields == {} and "workspace" in instance.applied_fields


def test_the_old_file_plans_no_change_and_plan_leaves_it_as_it_was(old_stack: Path) -> None:
    before = state_path(old_stack).read_bytes()
    result = run("plan", "--sandbox", "--detailed-exitcode", "-f", str(old_stack))
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert state_path(old_stack).read_bytes() == before  # plan never writes


def test_the_next_apply_writes_every_entry_back_in_format_2(old_stack: Path) -> None:
    old = json.loads(state_path(old_stack).read_text())["resources"]
    stack = old_stack / "stack.yaml"
    stack.write_text(stack.read_text().replace('arguments: "-n 10"', 'arguments: "-n 20"'))
    result = run("apply", "--sandbox", "--auto-approve", "-f", str(old_stack))
    assert result.exit_code == 0, result.output
    doc = json.loads(state_path(old_stack).read_text())
    assert doc["format_version"] == FORMAT_VERSION == 2
    assert set(doc["resources"]) == set(old)
    for address, entry in doc["resources"].items():
        assert "extra" not in entry, address
        assert {k: entry[k] for k in ("kind", "remote_id", "key")} == {
            k: old[address][k] for k in ("kind", "remote_id", "key")
        }
    core = doc["resources"]["cores.fast-athens"]
    assert core["prevent_destroy"] is True and core["deposed"] == []
    assert core["applied_fields"] == old["cores.fast-athens"]["extra"]["applied_fields"]
    sequence = doc["resources"]["sequences.hello-counter"]
    assert sequence["state_fields"] == {
        "package_digest": old["sequences.hello-counter"]["extra"]["package_digest"]
    }
    assert sequence["provider_data"] == {}
    assert doc["resources"]["package_instances.summarizer"]["provider_data"]["init_status"] == "complete"
    # The repository was applied again: its new digest of `arguments` is recorded.
    repo = doc["resources"]["repositories.sensor-model"]
    assert (
        repo["applied_fields"]["arguments"]
        != old["repositories.sensor-model"]["extra"]["applied_fields"]["arguments"]
    )
    again = run("plan", "--sandbox", "--detailed-exitcode", "-f", str(old_stack))
    assert again.exit_code == 0, again.output


def test_a_format_1_entry_with_every_engine_key_migrates() -> None:
    doc = {"format_version": 1, "resources": {"sequences.s": {
        "kind": "sequences", "remote_id": "hub/2", "key": ["hub", "s"], "digest": "sha256:d",
        "extra": {"prevent_destroy": True, "deposed": ["hub/1"], "applied_fields": {"hub": "ab"},
                  "package_digest": "sha256:p", "something_of_the_hub": 3},
    }}}  # fmt: skip
    (entry,) = entries_from_json(doc, "state").values()
    assert entry == StateEntry(
        "sequences", "hub/2", ("hub", "s"), "sha256:d", prevent_destroy=True, deposed=("hub/1",),
        applied_fields={"hub": "ab"}, state_fields={"package_digest": "sha256:p"},
        provider_data={"something_of_the_hub": 3},
    )  # fmt: skip
    assert entry.owned_ids() == ("hub/2", "hub/1")


def test_format_2_round_trips_through_the_file(tmp_path: Path) -> None:
    entry = StateEntry(
        "sequences", "hub/2", ("hub", "s"), "sha256:d", prevent_destroy=True, deposed=("hub/1",),
        applied_fields={"hub": "ab"}, state_fields={"package_digest": "sha256:p"}, provider_data={"x": [1]},
    )  # fmt: skip
    path = tmp_path / "state.json"
    asyncio.run(LocalStateStore(path).record("sequences.s", entry))
    assert LocalStateStore(path).read().get("sequences.s") == entry
    assert json.loads(path.read_text())["resources"]["sequences.s"] == {
        "kind": "sequences", "remote_id": "hub/2", "key": ["hub", "s"], "digest": "sha256:d",
        "prevent_destroy": True, "deposed": ["hub/1"], "applied_fields": {"hub": "ab"},
        "state_fields": {"package_digest": "sha256:p"}, "provider_data": {"x": [1]},
    }  # fmt: skip


def test_entries_are_values() -> None:
    (entry,) = entries_from_json(
        {"format_version": 2, "resources": {"cores.c": {"kind": "cores", "remote_id": "c1", "key": ["c"],
                                                          "applied_fields": {"a": "b"}}}},
        "state",
    ).values()  # fmt: skip
    with pytest.raises(TypeError):
        entry.applied_fields["a"] = "changed"  # type: ignore[index]


GOOD: dict[str, Any] = {"kind": "sequences", "remote_id": "hub/1", "key": ["hub", "s"], "digest": ""}
BAD_V2: dict[str, tuple[dict[str, Any], str]] = {
    "extra of format 1": ({"extra": {}}, "unknown field 'extra'"),
    "a misspelt field": ({"prevent_destory": True}, "unknown field 'prevent_destory'"),
    "protection a string": ({"prevent_destroy": "yes"}, "'prevent_destroy' must be true or false"),
    "deposed an empty id": ({"deposed": [""]}, "'deposed' must be a list of remote ids"),
    "applied digests numbers": (
        {"applied_fields": {"hub": 1}},
        "'applied_fields' must be an object of field",
    ),
    "a field no kind keeps": ({"state_fields": {"hub": "x"}}, "'state_fields.hub' is not a state field of"),
    "state fields a list": ({"state_fields": []}, "'state_fields' must be an object"),
    "provider data a string": ({"provider_data": "x"}, "'provider_data' must be an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_V2))
def test_a_bad_format_2_entry_names_the_address_and_field(case: str) -> None:
    changed, message = BAD_V2[case]
    doc = {"format_version": 2, "resources": {"sequences.s": {**GOOD, **changed}}}
    with pytest.raises(StateError) as caught:
        entries_from_json(doc, "state.json")
    assert str(caught.value).startswith("state.json: entry 'sequences.s': ")
    assert message in str(caught.value), str(caught.value)


def test_state_show_prints_the_typed_entry_of_an_old_file(old_stack: Path) -> None:
    result = run("state", "show", "--sandbox", "-f", str(old_stack), "cores.fast-athens")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["address"] == "cores.fast-athens" and shown["prevent_destroy"] is True
    assert (shown["state_fields"], shown["provider_data"], shown["deposed"]) == ({}, {}, [])
    assert "extra" not in shown
