"""Variables, references, for_each and modules (issue 29): what the expanded stack holds.

The error classes, each with its message, are in tests/bad_inputs/; here: values and their types,
precedence, secrets, the module cache, and that the expansion keeps places."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config import VariableInputs, load_stack, modules
from reconciler.errors import ConfigError

CORE_BODY = "class: C0, microarchitecture: Athens, memory_size: 256000, correlation_tracking: Disable"
SECRET = "s3cr3t-Token-77aa"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_single_reference_keeps_its_type_and_longer_text_interpolates(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  p: { type: number, default: 256 }\n  flag: { type: bool, default: true }\n"
        "  ignored: { type: list(string), default: [description] }\n"
        f'cores:\n  "c-${{var.p}}-${{var.flag}}": {{ {CORE_BODY}, precision: "${{var.p}}" }}\n'
        'webhooks:\n  h:\n    url: "https://hooks.example.com/${var.p}"\n    events: [task-status]\n'
        '    description: "$${var.p} and $${env:HOME} stay as written"\n'
        '    lifecycle: { ignore_changes: "${var.ignored}", prevent_destroy: "${var.flag}" }\n',
    )
    loaded = load_stack([tmp_path], {})
    by_address = {r.address: r for r in loaded.resources}
    core = by_address["cores.c-256-true"]
    assert core.attrs["precision"] == 256 and isinstance(core.attrs["precision"], int)
    hook = by_address["webhooks.h"]
    assert hook.attrs["url"] == "https://hooks.example.com/256"
    assert hook.attrs["description"] == "${var.p} and ${env:HOME} stay as written"
    assert hook.lifecycle.ignore_changes == ["description"] and hook.lifecycle.prevent_destroy is True


def test_precedence_var_then_var_file_then_environment_then_default(tmp_path: Path) -> None:
    write(tmp_path / "stack" / "stack.yaml", "version: 1\nvariables:\n" + "".join(
        f"  {n}: {{ type: string, default: default }}\n" for n in ("a", "b", "c", "d")
    ))  # fmt: skip
    first = write(tmp_path / "one.yml", "a: file1\nb: file1\n")
    second = write(tmp_path / "two.yml", "b: file2\n")
    environ = {"RECONCILER_VAR_a": "env", "RECONCILER_VAR_b": "env", "RECONCILER_VAR_c": "env"}
    inputs = VariableInputs(("a=cli",), (first, second))
    loaded = load_stack([tmp_path / "stack"], environ, inputs)
    values = {name: v.value for name, v in loaded.variables.items()}
    assert values == {"a": "cli", "b": "file2", "c": "env", "d": "default"}


def test_command_line_values_are_yaml_except_for_strings(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  v: { type: string }\n  n: { type: number }\n  m: { type: map(number) }\n",
    )
    inputs = VariableInputs(("v=1.10", "n=1.5", "m={small: 64}"))
    values = {k: v.value for k, v in load_stack([tmp_path], {}, inputs).variables.items()}
    assert values == {"v": "1.10", "n": 1.5, "m": {"small": 64}}


def test_for_each_over_a_list_of_maps_by_key_and_each_value_fields(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  teams: { type: map(map), default: { a: { p: 64 }, b: { p: 128 } } }\n"
        'cores:\n  "t-${each.key}":\n    for_each: "${var.teams}"\n'
        f'    {CORE_BODY.replace(", ", chr(10) + "    ")}\n    precision: "${{each.value.p}}"\n',
    )
    loaded = load_stack([tmp_path], {})
    assert {r.name: r.attrs["precision"] for r in loaded.resources} == {"t-a": 64, "t-b": 128}
    assert {r.location.line for r in loaded.resources if r.location} == {5}


def test_a_sensitive_variable_is_never_shown_and_its_fields_are_sensitive(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  token: { type: string, sensitive: true }\n"
        'webhooks:\n  h:\n    url: "https://hooks.example.com/${var.token}"\n    events: [task-status]\n',
    )
    loaded = load_stack([tmp_path], {}, VariableInputs((f"token={SECRET}",)))
    (hook,) = loaded.resources
    assert hook.sensitive == frozenset({"url"})
    write(tmp_path / "stack.yaml", "version: 1\nvariables:\n  token: { type: number, sensitive: true }\n")
    result = CliRunner().invoke(main, ["validate", "-f", str(tmp_path), "--var", f"token={SECRET}"])
    assert result.exit_code == 1
    assert "variable 'token'" in result.output and "expected a number, got a sensitive value" in result.output
    assert SECRET not in result.output


def test_a_sensitive_value_passed_to_a_module_stays_sensitive(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  token: { type: string, sensitive: true }\n"
        "modules:\n  hooks: { source: ./modules/hooks, vars: { path: '${var.token}' } }\n",
    )
    write(
        tmp_path / "modules" / "hooks" / "stack.yaml",
        "version: 1\nvariables:\n  path: { type: string }\n"
        'webhooks:\n  h:\n    url: "https://hooks.example.com/${var.path}"\n    events: [task-status]\n',
    )
    (hook,) = load_stack([tmp_path], {}, VariableInputs((f"token={SECRET}",))).resources
    assert hook.sensitive == frozenset({"url"}) and hook.module == "module.hooks"


def test_a_module_used_by_many_stacks_is_read_and_parsed_once(tmp_path: Path) -> None:
    module = write(
        tmp_path / "modules" / "team" / "stack.yaml",
        "version: 1\nvariables:\n  prefix: { type: string }\n"
        f'cores:\n  "${{var.prefix}}-c": {{ {CORE_BODY}, precision: 64 }}\n',
    )
    for n in range(5):
        write(
            tmp_path / f"s{n}" / "stack.yaml",
            f"version: 1\nmodules:\n  t: {{ source: ../modules/team, vars: {{ prefix: s{n} }} }}\n",
        )
    before = modules.cache_info()
    names = [r.name for n in range(5) for r in load_stack([tmp_path / f"s{n}"], {}).resources]
    after = modules.cache_info()
    assert names == [f"s{n}-c" for n in range(5)]
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 4)
    module.write_text(module.read_text().replace("precision: 64", "precision: 128 "))  # another size
    (core,) = load_stack([tmp_path / "s0"], {}).resources
    assert core.attrs["precision"] == 128, "a changed module file is read again"


def test_a_cached_module_is_read_again_when_an_environment_variable_it_uses_changes(tmp_path: Path) -> None:
    write(
        tmp_path / "modules" / "m" / "stack.yaml",
        f'version: 1\ncores:\n  "c": {{ {CORE_BODY}, precision: "${{env:P:plain}}" }}\n',
    )
    write(tmp_path / "s" / "stack.yaml", "version: 1\nmodules:\n  m: { source: ../modules/m }\n")
    assert load_stack([tmp_path / "s"], {"P": "64"}).resources[0].attrs["precision"] == 64
    assert load_stack([tmp_path / "s"], {"P": "128"}).resources[0].attrs["precision"] == 128


def test_a_target_address_may_use_variables(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  env: { type: string }\n"
        f'cores:\n  "c-${{var.env}}": {{ {CORE_BODY}, precision: 64 }}\n',
    )
    loaded = load_stack([tmp_path], {"RECONCILER_VAR_env": "prod"})
    assert loaded.address("cores.c-${var.env}") == "cores.c-prod"
    with pytest.raises(ConfigError, match="no variable 'nope'"):
        loaded.address("cores.${var.nope}")


def test_a_value_from_the_environment_is_not_read_as_a_reference(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        'version: 1\nwebhooks:\n  h:\n    url: "https://hooks.example.com/${env:HOOK_PATH}"\n'
        "    events: [task-status]\n",
    )
    (hook,) = load_stack([tmp_path], {"HOOK_PATH": "a${var.x}b"}).resources
    assert hook.attrs["url"] == "https://hooks.example.com/a${var.x}b"


def test_a_var_file_must_be_a_file(tmp_path: Path) -> None:
    write(tmp_path / "stack" / "stack.yaml", "version: 1\nvariables:\n  a: { type: string }\n")
    write(tmp_path / "values" / "a.yaml", "a: x\n")
    with pytest.raises(ConfigError, match="--var-file takes a file"):
        load_stack([tmp_path / "stack"], {}, VariableInputs((), (tmp_path / "values",)))


def test_a_command_line_value_has_the_limits_of_a_stack_file(tmp_path: Path) -> None:
    write(tmp_path / "stack.yaml", "version: 1\nvariables:\n  v: { type: list }\n")
    deep = "v=" + "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match="nested more than 64 levels"):
        load_stack([tmp_path], {}, VariableInputs((deep,)))
    laughs = (
        "v=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]"
    )
    laughs += (
        ", &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e]]"
    )
    with pytest.raises(ConfigError, match="billion laughs"):
        load_stack([tmp_path], {}, VariableInputs((laughs,)))


def test_drift_stacks_refuses_var_and_skips_module_folders(tmp_path: Path) -> None:
    """A fleet's stacks set their own values; a folder called modules holds modules, not stacks."""
    result = CliRunner().invoke(main, ["drift", "--stacks", str(tmp_path), "--var", "env=prod"])
    assert result.exit_code == 1
    assert "--var and --var-file do not apply to --stacks" in result.output
    from reconciler.app.fleet.discover import discover

    write(tmp_path / "prod" / "stack.yaml", "version: 1\nmodules:\n  t: { source: ../modules/team }\n")
    write(tmp_path / "modules" / "team" / "stack.yaml", "version: 1\n")
    assert [s.relative for s in discover([tmp_path])] == ["prod"]


def test_references_work_in_state_and_providers(tmp_path: Path) -> None:
    """Terraform users ask for variables in backends: here state and providers are ordinary values."""
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  env: { type: string }\n"
        "  base: { type: string, default: http://127.0.0.1:9 }\n"
        'state:\n  stack: "fleet-${var.env}"\nproviders:\n  signaloid: { url: "${var.base}" }\n',
    )
    loaded = load_stack([tmp_path], {}, VariableInputs(("env=prod",)))
    assert loaded.stack.state.stack == "fleet-prod"
    assert str(loaded.stack.providers.signaloid.url).startswith("http://127.0.0.1:9")


def test_a_module_call_with_for_each_makes_one_instance_per_key(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "version: 1\nvariables:\n  teams: { type: map(number), default: { a: 64, b: 128 } }\n"
        "modules:\n  teams:\n    source: ./modules/team\n    for_each: '${var.teams}'\n"
        "    vars: { prefix: '${each.key}', size: '${each.value}' }\n",
    )
    write(
        tmp_path / "modules" / "team" / "stack.yaml",
        "version: 1\nvariables:\n  prefix: { type: string }\n  size: { type: number }\n"
        f'cores:\n  "${{var.prefix}}-core": {{ {CORE_BODY}, precision: "${{var.size}}" }}\n',
    )
    loaded = load_stack([tmp_path], {})
    assert {r.name: (r.attrs["precision"], r.module) for r in loaded.resources} == {
        "a-core": (64, 'module.teams["a"]'),
        "b-core": (128, 'module.teams["b"]'),
    }
    plan = CliRunner().invoke(
        main, ["plan", "--sandbox", "--format", "json", "-f", str(tmp_path), "--target", 'module.teams["b"]']
    )
    assert plan.exit_code == 0, plan.output
    assert [c["address"] for c in json.loads(plan.stdout)["changes"]] == ["cores.b-core"]
    everything = CliRunner().invoke(
        main, ["plan", "--sandbox", "--format", "json", "-f", str(tmp_path), "--target", "module.teams"]
    )
    assert sorted(c["address"] for c in json.loads(everything.stdout)["changes"]) == [
        "cores.a-core",
        "cores.b-core",
    ]


def test_a_mistyped_module_target_is_an_error_with_the_module_it_meant(tmp_path: Path) -> None:
    write(tmp_path / "stack.yaml", "version: 1\nmodules:\n  team-a: { source: ./modules/team }\n")
    write(
        tmp_path / "modules" / "team" / "stack.yaml",
        f"version: 1\ncores:\n  c: {{ {CORE_BODY}, precision: 64 }}\n",
    )
    result = CliRunner().invoke(main, ["plan", "--sandbox", "-f", str(tmp_path), "--target", "module.teem-a"])
    assert result.exit_code == 1
    assert "did you mean module.team-a?" in result.output
