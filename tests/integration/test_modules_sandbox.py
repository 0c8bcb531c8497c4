"""Variables, for_each and modules (issue 29) through the CLI, against the emulator over a loopback
socket: the issue's own example applied with ``--var env=prod``, keys added and removed, a module
selected with ``--target``, and a resource moved into a module under its name. Every effect is
checked through the emulator's own HTTP API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import RunCli
from tests.support.examples import pristine_example
from tests.support.signaloid import SignaloidApi, StackDir

ROOT_STACK = """\
version: 1
variables:
  env:       { type: string }                         # required: no default
  precision: { type: number, default: 128, description: Core precision }
modules:
  team-a: { source: ./modules/team, vars: { prefix: "a-${var.env}" } }
  team-b: { source: ./modules/team, vars: { prefix: "b-${var.env}", sizes: { tiny: 32 } } }
cores:
  "shared-${var.env}": { class: C0, microarchitecture: Athens, precision: "${var.precision}",
                         memory_size: 256000, correlation_tracking: Disable }
"""
TEAM_MODULE = """\
version: 1
variables:
  prefix: { type: string }
  sizes:  { type: map, default: { small: 64, big: 256 } }
cores:
  "${var.prefix}-${each.key}":
    for_each: "${var.sizes}"
    class: C0
    microarchitecture: Athens
    precision: "${each.value}"
    memory_size: 256000
    correlation_tracking: Disable
"""


def write_example(stack_dir: StackDir, root: str = ROOT_STACK, module: str = TEAM_MODULE) -> None:
    stack_dir.file.write_text(root, encoding="utf-8")
    folder = stack_dir.path / "modules" / "team"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.yaml").write_text(module, encoding="utf-8")


def cores(api: SignaloidApi) -> dict[str, int]:
    return {c["Name"]: c["Precision"] for c in api.objects("cores")}


def test_the_issue_example_creates_exactly_its_cores_and_replans_empty(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_example(stack_dir)
    text = run_cli("plan", "-f", stack_dir.path, "--var", "env=prod").stdout
    assert "# cores.a-prod-small will be created (from module.team-a)" in text
    assert "# cores.shared-prod will be created (declared" in text
    markdown = run_cli("plan", "--format", "markdown", "-f", stack_dir.path, "--var", "env=prod").stdout
    assert "(from <code>module.team-b</code>)" in markdown
    result = run_cli("apply", "--auto-approve", "-f", stack_dir.path, "--var", "env=prod")
    assert result.exit_code == 0, result
    assert cores(api) == {"a-prod-small": 64, "a-prod-big": 256, "b-prod-tiny": 32, "shared-prod": 128}
    assert set(stack_dir.state()) == {
        "cores.a-prod-small",
        "cores.a-prod-big",
        "cores.b-prod-tiny",
        "cores.shared-prod",
    }
    again = run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path, "--var", "env=prod")
    assert again.exit_code == 0, again
    # The variable from the environment gives the same stack; the plan says which module is which.
    monkeypatch.setenv("RECONCILER_VAR_env", "prod")
    shown = run_cli("plan", "--detailed-exitcode", "--format", "json", "-f", stack_dir.path)
    assert shown.exit_code == 0, shown
    modules = {c["address"]: c.get("module") for c in shown.json()["changes"]}
    assert modules == {
        "cores.a-prod-small": "module.team-a",
        "cores.a-prod-big": "module.team-a",
        "cores.b-prod-tiny": "module.team-b",
        "cores.shared-prod": None,
    }


def test_a_new_key_creates_a_removed_key_deletes_and_a_module_can_be_targeted(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    write_example(stack_dir)
    targeted = run_cli(
        "apply", "--auto-approve", "-f", stack_dir.path, "--var", "env=dev", "--target", "module.team-b"
    )
    assert targeted.exit_code == 0, targeted
    assert cores(api) == {"b-dev-tiny": 32}
    by_variable = ("--target", "cores.shared-${var.env}")  # an address may use the stack's variables
    assert (
        run_cli("apply", "--auto-approve", "-f", stack_dir.path, "--var", "env=dev", *by_variable).exit_code
        == 0
    )
    assert cores(api) == {"b-dev-tiny": 32, "shared-dev": 128}
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path, "--var", "env=dev").exit_code == 0
    before = stack_dir.state()

    bigger = ROOT_STACK.replace("sizes: { tiny: 32 }", "sizes: { tiny: 32, huge: 512 }")
    write_example(stack_dir, root=bigger, module=TEAM_MODULE.replace("small: 64, ", ""))
    plan = run_cli("plan", "--format", "json", "-f", stack_dir.path, "--var", "env=dev")
    actions = {c["address"]: c["action"] for c in plan.json()["changes"] if c["action"] != "no-op"}
    assert actions == {"cores.b-dev-huge": "create", "cores.a-dev-small": "delete"}
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path, "--var", "env=dev").exit_code == 0
    assert cores(api) == {"a-dev-big": 256, "b-dev-tiny": 32, "b-dev-huge": 512, "shared-dev": 128}
    after = stack_dir.state()
    assert after["cores.a-dev-big"] == before["cores.a-dev-big"], "an unchanged instance is left alone"


def test_a_resource_moved_into_a_module_under_its_name_is_neither_deleted_nor_created(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    written_out = """\
version: 1
cores:
  a-prod-small: { class: C0, microarchitecture: Athens, precision: 64, memory_size: 256000,
                  correlation_tracking: Disable }
"""
    stack_dir.file.write_text(written_out, encoding="utf-8")
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    ids = stack_dir.state()

    call = "{ source: ./modules/team, vars: { prefix: a-prod, sizes: { small: 64 } } }"
    root = f"version: 1\nmodules:\n  team-a: {call}\n"
    write_example(stack_dir, root=root)
    plan = run_cli("plan", "--detailed-exitcode", "--format", "json", "-f", stack_dir.path)
    assert plan.exit_code == 0, plan
    (change,) = plan.json()["changes"]
    assert (change["address"], change["action"], change["module"]) == (
        "cores.a-prod-small",
        "no-op",
        "module.team-a",
    )
    assert stack_dir.state() == ids
    assert set(api.ids("cores")) == set(ids.values())


def test_a_wrong_variable_value_is_one_error_naming_the_variable(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi, tmp_path: Path
) -> None:
    write_example(stack_dir)
    values = tmp_path / "prod.yaml"
    values.write_text("env: prod\nprecision: [1, 2]\n", encoding="utf-8")
    result = run_cli("plan", "-f", stack_dir.path, "--var-file", values)
    assert result.exit_code == 1, result
    assert (
        f"{values}:2:12: variable 'precision' (declared at {stack_dir.file}:4:3): "
        "expected a number, got a list" in result.stderr
    )
    assert api.objects("cores") == []


def test_the_environments_example_is_checked_as_a_fleet(
    tmp_path: Path, run_cli: RunCli, api: SignaloidApi
) -> None:
    """examples/environments: a module and two stacks calling it; `drift --stacks` finds the two
    stacks (not the module), and after each is applied the fleet is in sync."""
    example = pristine_example("environments", tmp_path)
    for env in ("staging", "prod"):
        result = run_cli("apply", "--auto-approve", "-f", example / env)
        assert result.exit_code == 0, result
    assert cores(api) == {
        "a-staging-small": 64,
        "a-staging-big": 256,
        "b-staging-tiny": 32,
        "shared-staging": 128,
        "a-prod-small": 64,
        "a-prod-big": 256,
        "b-prod-tiny": 32,
        "b-prod-huge": 1024,
        "shared-prod": 256,
    }
    fleet = run_cli("drift", "--stacks", example, "--format", "json")
    assert fleet.exit_code == 0, fleet
    assert sorted(s["name"] for s in fleet.json()["stacks"]) == [f"{example}/prod", f"{example}/staging"]
    exported = run_cli("export", "-f", example / "prod")
    assert exported.exit_code == 0, exported
    assert (
        "a-prod-small:" in exported.stdout and "${" not in exported.stdout and "module" not in exported.stdout
    )


SECRET_PATH = "tok-SENSITIVE-4d3c2b1a"


def test_a_sensitive_variable_through_a_module_is_never_shown_nor_stored(
    stack_dir: StackDir, run_cli: RunCli, api: SignaloidApi
) -> None:
    stack_dir.file.write_text(
        "version: 1\nvariables:\n  hook_token: { type: string, sensitive: true }\n"
        "modules:\n  hooks: { source: ./modules/hooks, vars: { token: '${var.hook_token}' } }\n",
        encoding="utf-8",
    )
    module = stack_dir.path / "modules" / "hooks" / "stack.yaml"
    module.parent.mkdir(parents=True)
    module.write_text(
        "version: 1\nvariables:\n  token: { type: string }\n"
        'webhooks:\n  ci:\n    url: "https://hooks.example.com/${var.token}"\n    events: [task-status]\n',
        encoding="utf-8",
    )
    given = ("--var", f"hook_token={SECRET_PATH}")
    outputs = [
        run_cli("plan", "-f", stack_dir.path, *given),
        run_cli("plan", "--format", "json", "-f", stack_dir.path, *given),
    ]
    outputs.append(run_cli("apply", "--auto-approve", "-f", stack_dir.path, *given))
    outputs.append(run_cli("plan", "--detailed-exitcode", "-f", stack_dir.path, *given))
    assert [o.exit_code for o in outputs] == [0, 0, 0, 0], outputs
    assert "url    = (sensitive" in outputs[0].stdout
    (hook,) = api.objects("webhooks")
    assert hook["URL"] == f"https://hooks.example.com/{SECRET_PATH}", "the API got the value"
    for text in [*(o.stdout + o.stderr for o in outputs), stack_dir.state_text()]:
        assert SECRET_PATH not in text
