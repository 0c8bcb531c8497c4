"""``import ADDR ID`` and ``export`` through the CLI, against the emulator on a loopback socket."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.cli import RunCli
from tests.support.signaloid import CORE, SignaloidApi, StackDir

URL = "https://github.com/acme/sensor-model"
HOOK_URL = "https://hooks.example.com/signaloid"


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """export without -f reads no stack: run it from a folder with no YAML in it."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)


def test_import_records_the_object_and_plan_shows_the_differences(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    core_id = api.create_core("fast", precision=64)
    stack_dir.write(cores={"fast": {**CORE, "precision": 128}})

    result = run_cli("import", "-f", stack_dir.path, "cores.fast", core_id)
    assert result.exit_code == 0, result
    assert f"Imported {core_id} as cores.fast" in result.stdout
    assert "~ precision = 64 → 128" in result.stdout
    assert stack_dir.state() == {"cores.fast": core_id}

    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path)
    (change,) = plan.json()["changes"]
    assert (change["action"], change["adopt"], change["cause"]) == ("update", False, "config")
    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [("precision", 64, 128)]

    again = run_cli("import", "-f", stack_dir.path, "cores.fast", core_id)
    assert again.exit_code == 0 and "already manages" in again.stdout


def test_import_of_a_matching_object_leaves_nothing_to_do(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    core_id = api.create_core("fast")
    stack_dir.write(cores={"fast": dict(CORE)})
    assert run_cli("import", "-f", stack_dir.path, "cores.fast", core_id).exit_code == 0
    plan = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path)
    assert plan.exit_code == 0 and "No changes." in plan.stdout, plan


def test_import_refuses_the_wrong_object(stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi) -> None:
    other = api.create_core("slow")
    stack_dir.write(cores={"fast": dict(CORE), "slow": dict(CORE)})

    wrong_key = run_cli("import", "-f", stack_dir.path, "cores.fast", other)
    assert wrong_key.exit_code == 1
    assert f"{other} does not match cores.fast" in wrong_key.stderr
    assert "'slow'" in wrong_key.stderr and "'fast'" in wrong_key.stderr

    undeclared = run_cli("import", "-f", stack_dir.path, "cores.absent", other)
    assert undeclared.exit_code == 1 and "cores.absent is not declared in the stack" in undeclared.stderr

    missing = run_cli("import", "-f", stack_dir.path, "cores.slow", "cor_" + "0" * 32)
    assert missing.exit_code == 1
    assert re.search(r"there is no core with id cor_0+ on signaloid \(\d+ cores? listed\)", missing.stderr)
    assert stack_dir.state() == {}


def test_import_refuses_an_object_another_address_owns(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    hook = {"url": HOOK_URL, "events": ["task-status"]}
    stack_dir.write(webhooks={"old-name": hook})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    hook_id = stack_dir.state()["webhooks.old-name"]
    stack_dir.write(webhooks={"new-name": hook})  # renamed in the YAML; state still has the old name

    result = run_cli("import", "-f", stack_dir.path, "webhooks.new-name", hook_id)
    assert result.exit_code == 1
    assert f"{hook_id} is already managed by webhooks.old-name" in result.stderr
    assert "reconciler state rm webhooks.old-name" in result.stderr
    assert stack_dir.state() == {"webhooks.old-name": hook_id}


def test_ambiguous_natural_key_is_refused_naming_both_ids(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    first, second = api.create_webhook(HOOK_URL), api.create_webhook(HOOK_URL)
    stack_dir.write(webhooks={"ci": {"url": HOOK_URL, "events": ["task-status", "build-status"]}})
    plan = run_cli("plan", "-f", stack_dir.path)
    assert plan.exit_code == 1
    assert first in plan.stderr and second in plan.stderr
    assert "reconciler import webhooks.ci ID" in plan.stderr

    # import is the way out: record one, and the plan manages it and lists the other as unmanaged
    assert run_cli("import", "-f", stack_dir.path, "webhooks.ci", first).exit_code == 0
    after = run_cli("plan", "--format", "json", "-f", stack_dir.path)
    assert after.exit_code == 0, after
    doc = after.json()
    assert [c["remote_id"] for c in doc["changes"]] == [first]
    assert second in [u["remote_id"] for u in doc["unmanaged"]]


def test_export_validate_plan_shows_only_adoptions(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, tmp_path: Path
) -> None:
    core_id = api.create_core("fast-athens", precision=256)
    api.create_core("reference")
    api.create_repository(URL, core=core_id)
    api.create_repository("https://github.com/acme/other.git")
    api.create_webhook(HOOK_URL)

    result = run_cli("export", "--kind", "cores", "--kind", "repositories", "--kind", "webhooks")
    assert result.exit_code == 0, result
    assert "yaml-language-server" not in result.stdout.split("\nversion:")[0].replace(  # no unserved URL
        "then a yaml-language-server modeline", ""
    )
    assert "`reconciler schema > stack.schema.json`" in result.stdout
    doc = yaml.safe_load(result.stdout)
    assert doc["version"] == 1
    assert set(doc["cores"]) == {"fast-athens", "reference"}
    assert doc["cores"]["fast-athens"]["precision"] == 256
    assert doc["cores"]["fast-athens"]["correlation_tracking"] == "Autocorrelation"  # canonical form
    repos = doc["repositories"]
    assert repos["sensor-model-main"]["core"] == "fast-athens", "the id became the core's stack name"
    assert "other-main" in repos and "core" not in repos["other-main"]
    assert set(doc["webhooks"]) == {"hooks-example-com-signaloid"}
    assert "secret" not in result.stdout.lower()

    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "stack.yaml").write_text(result.stdout, encoding="utf-8")
    valid = run_cli("validate", "-f", exported)
    assert valid.exit_code == 0, valid
    plan = run_cli("plan", "--format", "json", "-f", exported)
    assert plan.exit_code == 0, plan
    changes = plan.json()["changes"]
    assert len(changes) == 5
    assert {c["action"] for c in changes} == {"adopt"} and all(c["adopt"] for c in changes)
    assert not plan.json()["unmanaged"]


def test_export_of_one_kind_keeps_ids_of_kinds_not_exported(run_cli: RunCli, api: SignaloidApi) -> None:
    core_id = api.create_core("fast")
    api.create_repository(URL, core=core_id)
    result = run_cli("export", "--kind", "repositories")
    assert result.exit_code == 0, result
    doc = yaml.safe_load(result.stdout)
    assert set(doc) == {"version", "repositories"}
    assert doc["repositories"]["sensor-model-main"]["core"] == core_id


def test_export_of_an_unknown_kind_is_an_error(run_cli: RunCli, api: SignaloidApi) -> None:
    result = run_cli("export", "--kind", "cors")
    assert result.exit_code == 1 and "unknown kind cors" in result.stderr
