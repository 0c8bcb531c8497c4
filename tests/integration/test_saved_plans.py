"""``plan --out FILE`` / ``apply FILE`` through the CLI, against the emulator on a loopback socket.

A saved plan applies exactly what was reviewed, or nothing: the live object changed behind its
back, or its YAML changed, and it is refused naming the resource.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import RunCli
from tests.support.signaloid import API_KEY, CORE, WEBHOOK, SignaloidApi, StackDir, repository

HOOK_URL = "https://hooks.example.com/signaloid"


def _core_body(name: str, live: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        k: live[k] for k in ("Class", "Microarchitecture", "Precision", "MemorySize", "CorrelationTracking")
    }
    return {"Name": name, **body, **changes}


@pytest.fixture
def applied(stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi) -> dict[str, str]:
    stack_dir.write(cores={"fast": dict(CORE)}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    return stack_dir.state()


def _plan_out(run_cli: RunCli, stack_dir: StackDir, out: Path) -> dict[str, Any]:
    result = run_cli("plan", "-f", stack_dir.path, "--out", out, "--detailed-exitcode")
    assert result.exit_code == 2, result
    assert f"Saved the plan to {out}" in result.stderr
    return dict(json.loads(out.read_text(encoding="utf-8")))


def test_a_saved_plan_records_what_it_was_made_from(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    doc = _plan_out(run_cli, stack_dir, tmp_path / "plan.json")
    assert doc["format_version"] == "2"
    meta = doc["saved_plan"]
    assert meta["format_version"] == "1" and meta["sandbox"] is False
    assert [f["path"] for f in meta["files"]] == [str(stack_dir.file)]
    binding = meta["bindings"]["cores.fast"]
    assert binding["remote_id"] == applied["cores.fast"]
    assert binding["live_fingerprint"] and binding["desired_digest"].startswith("sha256:")
    (change,) = [c for c in doc["changes"] if c["pending"]]
    assert (change["address"], change["action"]) == ("cores.fast", "update")


def test_a_stale_saved_plan_is_refused_and_nothing_is_applied(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)

    core_id = applied["cores.fast"]
    live = api.by_id("cores")[core_id]
    response = api.client.patch(f"/cores/{core_id}", json=_core_body("fast", live, MemorySize=512000))
    assert response.status_code == 200, response.text

    result = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert result.exit_code == 1, result
    assert "the plan was made against live state that has changed since: cores.fast (changed outside)" in (
        result.stderr
    )
    assert "run plan again" in result.stderr
    after = api.by_id("cores")[core_id]
    assert (after["Precision"], after["MemorySize"]) == (128, 512000), "nothing may be applied"


def test_a_saved_plan_is_refused_when_the_yaml_changed_since(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)
    stack_dir.write(cores={"fast": {**CORE, "precision": 512}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})

    result = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert result.exit_code == 1, result
    assert "cores.fast (configuration changed)" in result.stderr
    assert api.by_id("cores")[applied["cores.fast"]]["Precision"] == 128


def test_a_deleted_object_makes_the_plan_stale(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)
    assert api.client.delete(f"/cores/{applied['cores.fast']}").status_code in (200, 204)

    result = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert result.exit_code == 1, result
    assert f"cores.fast (deleted outside reconciler ({applied['cores.fast']}))" in result.stderr
    assert not api.objects("cores"), "the core must not be created again from a stale plan"


def test_a_fresh_saved_plan_applies_exactly_its_actions(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": {**CORE, "precision": 256}}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)
    # After the review, someone adds a core to the YAML: not in the reviewed plan, so not applied.
    stack_dir.write(
        cores={"fast": {**CORE, "precision": 256}, "extra": dict(CORE)},
        webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}},
    )

    result = run_cli("apply", "-f", stack_dir.path, plan_file)  # no --auto-approve: it was reviewed
    assert result.exit_code == 0, result
    assert "cores.fast: updated" in result.stdout
    assert "Note: cores.extra has changes not in" in result.stderr
    assert "Apply complete! Resources: 0 added, 1 changed, 0 replaced, 0 destroyed." in result.stdout
    cores = {c["Name"]: c for c in api.objects("cores")}
    assert set(cores) == {"fast"} and cores["fast"]["Precision"] == 256

    again = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert again.exit_code == 1, "a plan already applied is stale: the object changed since"
    assert "cores.fast (already as planned: changed since, and it matches the configuration now)" in (
        again.stderr
    )
    assert "changed outside" not in again.stderr, "our own apply is not a change outside"


def test_a_saved_plan_of_creates_is_stale_once_applied(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, tmp_path: Path
) -> None:
    stack_dir.write(cores={"fast": dict(CORE)})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)
    assert run_cli("apply", "-f", stack_dir.path, plan_file).exit_code == 0
    assert len(api.objects("cores")) == 1

    again = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert again.exit_code == 1 and "cores.fast (created since the plan was made: cor_" in again.stderr
    assert len(api.objects("cores")) == 1, "never a duplicate"


def test_a_saved_plan_file_contains_no_secret(
    stack_dir: StackDir,
    run_cli: RunCli,
    api: SignaloidApi,
    tmp_path: Path,
) -> None:
    key = API_KEY  # the emulator keeps each API key's objects apart, so the test's own key it is
    stack_dir.write(
        cores={"fast": dict(CORE)},
        webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}},
        api_key="${env:SIGNALOID_API_KEY}",
    )
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    (hook,) = api.objects("webhooks")
    issued = str(hook.get("Secret") or "")
    stack_dir.write(
        cores={"fast": {**CORE, "precision": 256}},
        webhooks={"ci": {"url": HOOK_URL, **WEBHOOK, "description": "changed"}},
        api_key="${env:SIGNALOID_API_KEY}",
    )
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)
    text = plan_file.read_text(encoding="utf-8")
    assert key not in text and "${env:" not in text
    assert issued.startswith("whsec_") and issued not in text  # Signaloid's webhook signing secret
    assert run_cli("apply", "-f", stack_dir.path, plan_file).exit_code == 0


def test_not_a_saved_plan(stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, tmp_path: Path) -> None:
    stack_dir.write(cores={"fast": dict(CORE)})
    plain = tmp_path / "plan.json"
    plain.write_text(run_cli("plan", "-f", stack_dir.path, "--format", "json").stdout, encoding="utf-8")
    result = run_cli("apply", "-f", stack_dir.path, plain)
    assert result.exit_code == 1
    assert "is not a saved plan (it is kept as it is); make one with" in result.stderr
    assert "`reconciler plan -f STACK --out plan.json`" in result.stderr  # not over the file given
    assert not api.objects("cores")


def test_a_saved_plan_records_a_protection_turned_on(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, applied: dict[str, str], tmp_path: Path
) -> None:
    """A state-only change (lifecycle.prevent_destroy turned on) is applied from a saved plan, not
    lost: the next plan has nothing left, and the protection holds."""
    protected = {**CORE, "lifecycle": {"prevent_destroy": True}}
    stack_dir.write(cores={"fast": protected}, webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})
    plan_file = tmp_path / "plan.json"
    _plan_out(run_cli, stack_dir, plan_file)

    result = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert result.exit_code == 0, result
    assert "No changes" not in result.stdout
    again = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert again.exit_code == 0, again
    stack_dir.write(webhooks={"ci": {"url": HOOK_URL, **WEBHOOK}})  # the core leaves the YAML
    refused = run_cli("plan", "-f", stack_dir.path)
    assert refused.exit_code == 1 and "lifecycle.prevent_destroy" in refused.output, refused


URL_A, URL_B = "https://github.com/example/model-a", "https://github.com/example/model-b"


def test_a_saved_plan_with_every_action_applies_exactly_what_it_shows(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, tmp_path: Path
) -> None:
    hook = {"url": HOOK_URL, **WEBHOOK}
    stack_dir.write(
        cores={name: dict(CORE) for name in ("fast", "gone", "kept", "same")},
        repositories={"model": repository(URL_A)},
        webhooks={"old-name": hook},
    )
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    before = stack_dir.state()
    found = api.create_core("found")
    stack_dir.write(
        cores={
            "fast": {**CORE, "precision": 256},  # update
            "kept": {**CORE, "lifecycle": {"prevent_destroy": True}},  # state-only
            "same": dict(CORE),  # no-op
            "found": dict(CORE),  # adopt
            "new": dict(CORE),  # create; cores.gone: delete
        },
        repositories={"model": repository(URL_B)},  # replace
        webhooks={"new-name": hook},  # move
    )
    plan_file = tmp_path / "plan.json"
    doc = _plan_out(run_cli, stack_dir, plan_file)
    actions = {c["address"]: (c["action"], c["pending"]) for c in doc["changes"]}
    assert actions == {
        "cores.fast": ("update", True),
        "cores.found": ("adopt", True),
        "cores.gone": ("delete", True),
        "cores.kept": ("state-only", True),
        "cores.new": ("create", True),
        "cores.same": ("no-op", False),
        "repositories.model": ("replace", True),
        "webhooks.new-name": ("move", True),
    }
    (replace,) = [c for c in doc["changes"] if c["action"] == "replace"]
    assert replace["replace_order"] == "delete-then-create"

    result = run_cli("apply", "-f", stack_dir.path, plan_file)
    assert result.exit_code == 0, result
    for line in (
        "cores.fast: updated",
        "cores.found: adopted",
        "cores.gone: destroyed",
        "cores.kept: recorded in state",
        "cores.new: created",
        "repositories.model: replaced",
        "webhooks.new-name: moved in state",
    ):
        assert line in result.stdout, line
    assert "cores.same:" not in result.stdout
    after = stack_dir.state()
    assert after["cores.found"] == found and after["webhooks.new-name"] == before["webhooks.old-name"]
    assert (after["cores.same"], after["cores.kept"]) == (before["cores.same"], before["cores.kept"])
    assert before["cores.gone"] not in api.ids("cores") and "cores.gone" not in after
    assert after["repositories.model"] != before["repositories.model"]
    assert api.ids("repositories") == {after["repositories.model"]}
    state_doc = json.loads(stack_dir.state_text())
    assert "cores.kept" in json.dumps(state_doc) and "prevent_destroy" in json.dumps(state_doc)
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0
