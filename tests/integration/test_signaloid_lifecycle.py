"""create → noop → update → replace → delete → destroy, through the CLI, against the emulator over a
loopback socket; every effect is checked straight through the emulator's own HTTP API."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.engine.deciding.changes import Action
from tests.support.cli import RunCli
from tests.support.signaloid import CORE, WEBHOOK, SignaloidApi, StackDir, repository

URL_A = "https://github.com/acme/sensor-model"
URL_B = "https://github.com/acme/sensor-model-v2"
HOOK_URL = "https://hooks.example.com/signaloid"


def resources(**changes: Any) -> dict[str, Any]:
    """Two cores, a repository built on one of them, a webhook; ``changes`` replace sections."""
    doc: dict[str, Any] = {
        "cores": {
            "fast-athens": dict(CORE),
            "reference-wide": {
                **CORE,
                "class": "C0Pro",
                "microarchitecture": "Reference",
                "precision": 32000,
                "correlation_tracking": "Disable",
            },
        },
        "repositories": {"sensor-model": repository(URL_A, core="fast-athens", arguments="-n 10")},
        "webhooks": {"ci-notify": {"url": HOOK_URL, **WEBHOOK}},
    }
    doc.update(changes)
    return doc


@pytest.fixture(params=["pascal", "camel"])
def signaloid_casing(request: pytest.FixtureRequest) -> str:
    """Every test here runs against both spellings Signaloid answers in (reference, SDK types)."""
    return str(request.param)


@pytest.fixture
def applied(stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi) -> dict[str, str]:
    """The standard stack, applied; returns the state (address -> remote id)."""
    stack_dir.write(**resources())
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    return stack_dir.state()


def test_create_applies_in_dependency_order_and_the_next_plan_is_empty(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(**resources())
    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    assert "+ cores.fast-athens" in plan.stdout
    assert "+ repositories.sensor-model" in plan.stdout
    assert "core            = (known after apply)" in plan.stdout
    assert "Plan: 4 to add, 0 to change, 0 to replace, 0 to destroy." in plan.stdout
    assert not api.objects("cores") and not api.objects("webhooks"), "plan must not write"

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "Apply complete! Resources: 4 added, 0 changed, 0 replaced, 0 destroyed." in result.stdout
    lines = result.stdout.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("cores.fast-athens: created"))) < lines.index(
        "repositories.sensor-model: creating…"
    ), "the repository must wait for the core it is built on"

    state = stack_dir.state()
    cores = {c["Name"]: c for c in api.objects("cores")}
    assert set(cores) == {"fast-athens", "reference-wide"}
    assert cores["fast-athens"]["CoreID"] == state["cores.fast-athens"]
    assert (cores["fast-athens"]["Precision"], cores["fast-athens"]["MemorySize"]) == (128, 256000)
    assert cores["reference-wide"]["Microarchitecture"] == "Reference"
    (repo,) = api.objects("repositories")
    assert repo["RepositoryID"] == state["repositories.sensor-model"]
    assert (repo["RemoteURL"], repo["Core"], repo["Arguments"]) == (
        URL_A,
        state["cores.fast-athens"],
        "-n 10",
    )
    (hook,) = api.objects("webhooks")
    assert (hook["WebhookID"], hook["URL"], hook["Status"]) == (
        state["webhooks.ci-notify"],
        HOOK_URL,
        "active",
    )

    again = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert again.exit_code == 0, again
    assert "No changes." in again.stdout
    rerun = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert rerun.exit_code == 0 and "No changes." in rerun.stdout, rerun
    assert len(api.objects("cores")) == 2


def test_precision_change_is_an_in_place_update(
    applied: dict[str, str], stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    changed = resources()
    changed["cores"]["fast-athens"]["precision"] = 256
    stack_dir.write(**changed)

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    assert f"~ cores.fast-athens  [id={applied['cores.fast-athens']}]" in plan.stdout
    assert "~ precision = 128 → 256" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy." in plan.stdout

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "1 changed" in result.stdout
    core = api.by_id("cores")[applied["cores.fast-athens"]]
    assert core["Precision"] == 256
    assert (core["Class"], core["MemorySize"], core["CorrelationTracking"]) == (
        "C0",
        256000,
        "autocorrelation",
    )
    assert stack_dir.state() == applied, "an update keeps every id"
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_remote_url_change_replaces_the_repository(
    applied: dict[str, str], stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    old_id = applied["repositories.sensor-model"]
    stack_dir.write(
        **resources(repositories={"sensor-model": repository(URL_B, core="fast-athens", arguments="-n 10")})
    )

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    assert f"-/+ repositories.sensor-model  [id={old_id}]" in plan.stdout
    assert f'~ remote_url = "{URL_A}" → "{URL_B}"  # forces replacement' in plan.stdout
    assert "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy." in plan.stdout

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    repos = api.by_id("repositories")
    assert old_id not in repos
    new_id = stack_dir.state()["repositories.sensor-model"]
    assert new_id != old_id and set(repos) == {new_id}
    assert (repos[new_id]["RemoteURL"], repos[new_id]["Core"]) == (URL_B, applied["cores.fast-athens"])
    assert {k: v for k, v in stack_dir.state().items() if k != "repositories.sensor-model"} == {
        k: v for k, v in applied.items() if k != "repositories.sensor-model"
    }
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_removing_a_resource_from_the_yaml_deletes_only_that_one(
    applied: dict[str, str], stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(**{k: v for k, v in resources().items() if k != "webhooks"})

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    assert f"- webhooks.ci-notify  [id={applied['webhooks.ci-notify']}]" in plan.stdout
    assert "no longer in the configuration" in plan.stdout
    assert "Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy." in plan.stdout

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "1 destroyed" in result.stdout
    assert api.objects("webhooks") == []
    assert api.ids("cores") == {applied["cores.fast-athens"], applied["cores.reference-wide"]}
    assert api.ids("repositories") == {applied["repositories.sensor-model"]}
    assert "webhooks.ci-notify" not in stack_dir.state()
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_destroy_removes_everything_in_state_and_nothing_else(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stranger = api.create_core("not-ours")
    stranger_hook = api.create_webhook("https://elsewhere.example.com/hook")
    stack_dir.write(**resources())
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    managed = stack_dir.state()

    refused = run_cli("destroy", "-f", stack_dir.path)  # stdin is not a terminal: no silent yes
    assert refused.exit_code == 1, refused
    assert "--auto-approve" in refused.stderr
    assert set(managed.values()) <= api.ids("cores") | api.ids("repositories") | api.ids("webhooks")

    result = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "4 destroyed" in result.stdout
    assert api.ids("cores") == {stranger}
    assert api.ids("webhooks") == {stranger_hook}
    assert api.objects("repositories") == []
    assert stack_dir.state() == {}
    again = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert again.exit_code == 0 and "Nothing to destroy. The state records no resource" in again.stdout, again


def test_plan_json_has_the_documented_shape(
    applied: dict[str, str], stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stranger = api.create_core("not-ours")
    changed = resources(webhooks={})
    changed["cores"]["fast-athens"]["precision"] = 256
    changed["repositories"]["sensor-model"]["remote_url"] = URL_B
    changed["cores"]["new-core"] = dict(CORE)
    stack_dir.write(**changed)

    result = run_cli("plan", "--format", "json", "--detailed-exitcode", "-f", stack_dir.path)
    assert result.exit_code == 2, result
    doc = result.json()
    assert doc["format_version"] == "2"
    change_keys = {"address", "kind", "action", "pending", "cause", "adopt", "reason", "remote_id", "fields"}
    field_keys = {"path", "before", "after", "sensitive", "forces_replacement"}
    for change in doc["changes"]:
        assert change_keys <= set(change), change
        assert change["action"] in {a.value for a in Action}
        assert change["cause"] in {"config", "drift", "new", "removed", None}
        assert isinstance(change["adopt"], bool) and isinstance(change["reason"], str)
        for f in change["fields"]:
            assert field_keys <= set(f), f
    by_address = {c["address"]: c for c in doc["changes"]}
    assert set(by_address) == {
        "cores.fast-athens",
        "cores.reference-wide",
        "cores.new-core",
        "repositories.sensor-model",
        "webhooks.ci-notify",
    }

    update = by_address["cores.fast-athens"]
    assert (update["kind"], update["action"], update["cause"], update["adopt"]) == (
        "cores",
        "update",
        "config",
        False,
    )
    assert update["remote_id"] == applied["cores.fast-athens"]
    assert [{k: f[k] for k in field_keys} for f in update["fields"]] == [
        {"path": "precision", "before": 128, "after": 256, "sensitive": False, "forces_replacement": False}
    ]
    replace = by_address["repositories.sensor-model"]
    assert (replace["action"], replace["remote_id"]) == ("replace", applied["repositories.sensor-model"])
    url_field = next(f for f in replace["fields"] if f["path"] == "remote_url")
    assert (url_field["before"], url_field["after"], url_field["forces_replacement"]) == (URL_A, URL_B, True)
    create = by_address["cores.new-core"]
    assert (create["action"], create["cause"], create["remote_id"]) == ("create", "new", None)
    assert {f["path"]: f["after"] for f in create["fields"]}["precision"] == 128
    delete = by_address["webhooks.ci-notify"]
    assert (delete["action"], delete["cause"], delete["remote_id"]) == (
        "delete",
        "removed",
        applied["webhooks.ci-notify"],
    )
    assert by_address["cores.reference-wide"]["action"] == "no-op"

    summary = doc["summary"]
    assert {k: summary[k] for k in ("create", "update", "replace", "delete", "no-op")} == {
        "create": 1,
        "update": 1,
        "replace": 1,
        "delete": 1,
        "no-op": 1,
    }
    assert doc["unmanaged"] == [{"kind": "cores", "remote_id": stranger, "name": "not-ours"}]
    assert api.by_id("cores")[applied["cores.fast-athens"]]["Precision"] == 128, "plan must not write"


def test_changes_made_outside_show_as_drift_and_apply_restores_them(
    applied: dict[str, str], stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    core_id, hook_id = applied["cores.fast-athens"], applied["webhooks.ci-notify"]
    current = api.by_id("cores")[core_id]
    six = ("Name", "Class", "Precision", "MemorySize", "Microarchitecture", "CorrelationTracking")
    body = {**{k: current.get(k, current.get(k[0].lower() + k[1:])) for k in six}, "Precision": 64}
    patched = api.client.patch(f"/cores/{core_id}", json=body)  # all six: the API takes no fewer
    assert patched.status_code == 200, patched.text
    assert api.client.delete(f"/webhooks/{hook_id}").status_code == 200

    drift = run_cli("drift", "--format", "json", "-f", stack_dir.path)
    assert drift.exit_code == 2, drift
    changes = {c["address"]: c for c in drift.json()["changes"] if c["pending"]}
    assert set(changes) == {"cores.fast-athens", "webhooks.ci-notify"}
    core, hook = changes["cores.fast-athens"], changes["webhooks.ci-notify"]
    assert (core["action"], core["cause"], core["remote_id"]) == ("update", "drift", core_id)
    assert [(f["path"], f["before"], f["after"]) for f in core["fields"]] == [("precision", 64, 128)]
    assert (hook["action"], hook["cause"]) == ("create", "drift")
    assert "deleted outside" in hook["reason"]
    text = run_cli("plan", "-f", stack_dir.path)
    assert "drift: changed outside reconciler" in text.stdout, text

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert api.by_id("cores")[core_id]["Precision"] == 128
    new_hook = stack_dir.state()["webhooks.ci-notify"]
    assert new_hook != hook_id and api.ids("webhooks") == {new_hook}
    assert run_cli("drift", "-f", stack_dir.path).exit_code == 0
