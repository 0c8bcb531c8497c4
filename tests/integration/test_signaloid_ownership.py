"""Ownership over a real socket: adoption by natural key, unmanaged objects left alone, lost state
recovered without duplicates, and a webhook's Secret kept out of every output and the state file."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cli import CliResult, RunCli
from tests.support.signaloid import CORE, WEBHOOK, SignaloidApi, StackDir, repository

URL_A = "https://github.com/acme/sensor-model"
HOOK_URL = "https://hooks.example.com/signaloid"
OTHER_URL = "https://github.com/someone-else/tool"
OTHER_HOOK = "https://hooks.example.com/someone-else"


@pytest.fixture(params=["pascal", "camel"])
def signaloid_casing(request: pytest.FixtureRequest) -> str:
    """Every test here runs against both spellings Signaloid answers in (reference, SDK types)."""
    return str(request.param)


def declared(precision: int = 128) -> dict[str, Any]:
    return {
        "cores": {"fast-athens": {**CORE, "precision": precision}},
        "repositories": {"sensor-model": repository(URL_A, core="fast-athens")},
        "webhooks": {"ci-notify": {"url": HOOK_URL, **WEBHOOK}},
    }


def counts(api: SignaloidApi) -> dict[str, int]:
    return {kind: len(api.objects(kind)) for kind in ("cores", "repositories", "webhooks")}


def test_objects_created_outside_are_adopted_not_duplicated(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    core = api.create_core("fast-athens")
    repo = api.create_repository(URL_A, core=core)
    hook = api.create_webhook(HOOK_URL)
    stack_dir.write(**declared())

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan  # recording an adoption in state is a change
    for address, remote_id in (
        ("cores.fast-athens", core),
        ("repositories.sensor-model", repo),
        ("webhooks.ci-notify", hook),
    ):
        assert f"# {address} will be adopted" in plan.stdout
        assert f"{address}  [id={remote_id}]" in plan.stdout
    assert "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy. 3 to adopt." in plan.stdout
    doc = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    assert {(c["address"], c["action"], c["adopt"], c["remote_id"]) for c in doc["changes"]} == {
        ("cores.fast-athens", "adopt", True, core),
        ("repositories.sensor-model", "adopt", True, repo),
        ("webhooks.ci-notify", "adopt", True, hook),
    }
    assert doc["unmanaged"] == []

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "0 added" in result.stdout and "3 adopted" in result.stdout
    assert counts(api) == {"cores": 1, "repositories": 1, "webhooks": 1}
    assert stack_dir.state() == {
        "cores.fast-athens": core,
        "repositories.sensor-model": repo,
        "webhooks.ci-notify": hook,
    }
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_adopting_an_object_that_differs_updates_it_in_place(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    core = api.create_core("fast-athens", precision=64)
    stack_dir.write(cores=declared()["cores"])

    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    assert "# cores.fast-athens will be updated in place (adopting the existing object)" in plan.stdout
    assert "~ precision = 64 → 128" in plan.stdout

    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert [(c["CoreID"], c["Precision"]) for c in api.objects("cores")] == [(core, 128)]
    assert stack_dir.state() == {"cores.fast-athens": core}


def test_two_live_matches_are_an_error_naming_both(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    first, second = api.create_core("fast-athens"), api.create_core("fast-athens")
    stack_dir.write(cores=declared()["cores"])

    for command in (("plan",), ("apply", "--auto-approve")):
        result = run_cli(*command, "-f", stack_dir.path)
        assert result.exit_code == 1, result
        assert first in result.stderr and second in result.stderr
        assert "Traceback" not in result.output
    assert api.ids("cores") == {first, second}
    assert stack_dir.state() == {}


def test_unmanaged_objects_are_listed_and_never_touched(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    strangers = {
        ("cores", api.create_core("someone-elses")),
        ("repositories", api.create_repository(OTHER_URL)),
        ("webhooks", api.create_webhook(OTHER_HOOK)),
    }
    stack_dir.write(**declared())

    plan = run_cli("plan", "-f", stack_dir.path)
    assert plan.exit_code == 0, plan
    assert "Unmanaged: 3 live objects not in the configuration nor in state (never touched):" in plan.stdout
    for kind, remote_id in strangers:
        assert f"  {kind} {remote_id}" in plan.stdout
    doc = run_cli("plan", "--format", "json", "-f", stack_dir.path).json()
    assert {(u["kind"], u["remote_id"]) for u in doc["unmanaged"]} == strangers
    assert {c["address"] for c in doc["changes"]} == {
        "cores.fast-athens",
        "repositories.sensor-model",
        "webhooks.ci-notify",
    }

    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    stack_dir.write()  # nothing declared any more: only what state owns goes
    removed = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert removed.exit_code == 0, removed
    assert "3 destroyed" in removed.stdout
    assert run_cli("destroy", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    live = {(kind, i) for kind in ("cores", "repositories", "webhooks") for i in api.ids(kind)}
    assert live == strangers


def test_state_rm_makes_a_resource_unmanaged_instead_of_deleted(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    doc = declared()
    doc["webhooks"]["other-hook"] = {"url": OTHER_HOOK, **WEBHOOK}
    stack_dir.write(**doc)
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    hook = stack_dir.state()["webhooks.ci-notify"]

    forgot = run_cli("state", "rm", "webhooks.ci-notify", "-f", stack_dir.path)
    assert forgot.exit_code == 0, forgot
    assert "webhooks.ci-notify" not in stack_dir.state()
    del doc["webhooks"]["ci-notify"]
    stack_dir.write(**doc)
    plan = run_cli("plan", "--format", "json", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 0, plan
    assert plan.json()["unmanaged"] == [{"kind": "webhooks", "remote_id": hook, "name": HOOK_URL}]
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    assert hook in api.ids("webhooks")


def test_unmanaged_objects_of_a_kind_the_stack_does_not_use_are_still_listed(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    hook = api.create_webhook(OTHER_HOOK)
    stack_dir.write(cores=declared()["cores"])
    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path)
    assert plan.exit_code == 0, plan
    assert {"kind": "webhooks", "remote_id": hook, "name": OTHER_HOOK} in plan.json()["unmanaged"]


def test_lost_state_is_recovered_by_adoption_without_duplicates(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.write(**declared())
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    before = stack_dir.state()
    stack_dir.state_path.unlink()

    plan = run_cli("plan", "--format", "json", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 2, plan
    doc = plan.json()
    assert {(c["address"], c["action"], c["adopt"]) for c in doc["changes"]} == {
        (address, "adopt", True) for address in before
    }
    assert doc["summary"]["create"] == 0 and doc["unmanaged"] == []

    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert counts(api) == {"cores": 1, "repositories": 1, "webhooks": 1}
    assert stack_dir.state() == before
    assert run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path).exit_code == 0


def test_a_webhook_secret_never_appears_in_output_or_state(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    outputs: list[CliResult] = []

    def cli(*args: Any) -> CliResult:
        outputs.append(run_cli(*args, "-f", stack_dir.path))
        assert outputs[-1].exit_code in (0, 2), outputs[-1]
        return outputs[-1]

    stack_dir.write(**declared())
    cli("apply", "--auto-approve")
    (hook,) = api.objects("webhooks")
    secret = hook["Secret"]
    assert secret.startswith("whsec_")
    changed = declared()
    changed["webhooks"]["ci-notify"].update(description="changed", status="disabled")
    stack_dir.write(**changed)
    for fmt in ("text", "json", "markdown"):
        cli("plan", "--format", fmt)
    cli("drift", "--format", "json")
    cli("apply", "--auto-approve")  # a PUT whose response carries the Secret again
    cli("state", "list")
    cli("state", "show", "webhooks.ci-notify")
    stack_dir.state_path.unlink()
    cli("plan", "--format", "json")  # adoption reads the webhook list, Secret included
    cli("apply", "--auto-approve")
    cli("destroy", "--auto-approve")

    assert api.objects("webhooks") == []
    for result in outputs:
        assert secret not in result.output and "whsec_" not in result.output, result
    state_files = [p for p in stack_dir.path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert state_files, "the state file was written"
    for path in state_files:
        assert "whsec_" not in path.read_text(encoding="utf-8"), path
