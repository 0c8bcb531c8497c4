"""The generated schema is current, the examples follow it, and the README agrees with the CLI and CI."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main

ROOT = Path(__file__).parents[2]
SCHEMA_FILE = ROOT / "schemas" / "stack.schema.json"
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir() and any(p.glob("*.yaml")))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$", re.MULTILINE)


def sh_blocks(markdown: str) -> list[list[str]]:
    return [
        [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
        for block in re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)
    ]


def test_the_schema_file_is_current() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$schema"].startswith("https://json-schema.org/")
    assert result.output == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "schemas/stack.schema.json is stale; run: reconciler schema > schemas/stack.schema.json"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_validate(example: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "-f", str(example)])
    assert result.exit_code == 0, result.output
    assert "The stack is valid" in result.output


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_carry_a_modeline_to_the_schema(example: Path) -> None:
    for file in sorted(example.glob("*.yaml")):
        match = MODELINE.search(file.read_text(encoding="utf-8"))
        assert match, f"{file.relative_to(ROOT)} has no yaml-language-server modeline"
        assert (file.parent / match["path"]).resolve() == SCHEMA_FILE.resolve()
        schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        _check(yaml.safe_load(file.read_text(encoding="utf-8")), schema, schema["$defs"], file.name)


def _check(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema the stack schema uses for mappings: properties, required,
    additionalProperties and patternProperties (enough to see the schema describes the examples)."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema)
        if "$ref" in schema:
            schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(value, dict) or schema.get("type") != "object":
        return
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        assert name in value, f"{where}: required {name!r} missing"
    for key, item in value.items():
        if key in props:
            _check(item, props[key], defs, f"{where}.{key}")
        elif "patternProperties" in schema:
            patterns = schema["patternProperties"]
            matching = [sub for pattern, sub in patterns.items() if re.search(pattern, key)]
            assert matching, f"{where}: {key!r} does not match {' or '.join(patterns)}"
            _check(item, matching[0], defs, f"{where}.{key}")
        else:
            assert schema.get("additionalProperties", True) is not False, f"{where}: {key!r} not allowed"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_follow_the_schema_file(example: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for file in sorted(example.glob("*.yaml")):
        _check(yaml.safe_load(file.read_text(encoding="utf-8")), schema, schema.get("$defs", {}), file.name)


def _parse(args: list[str]) -> click.Context:
    """Parse a command line with the real CLI, without running it (unknown flags raise)."""
    group: click.Group = main
    ctx = click.Context(main, info_name="reconciler")
    while True:
        name, command, rest = group.resolve_command(ctx, args)
        assert command is not None and name is not None, f"no command in {args}"
        if not isinstance(command, click.Group):
            return command.make_context(name, rest, parent=ctx)
        group, ctx, args = command, click.Context(command, info_name=name, parent=ctx), rest


def readme_commands() -> list[str]:
    commands = [line for block in sh_blocks(README) for line in block if line.startswith("reconciler ")]
    commands += re.findall(r"`(reconciler [^`]+)`", README)
    # A redirection and a trailing comment are the shell's, not the CLI's.
    commands = [re.sub(r"\s+#.*$", "", c).split(" > ")[0] for c in commands]
    return [c for c in commands if "|" not in c and "..." not in c]


def test_the_readme_quickstart_is_install_then_one_command() -> None:
    quickstart = sh_blocks(README)[0]
    assert quickstart == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]'",
        "reconciler apply --sandbox --auto-approve -f examples/quickstart",
    ]
    assert "-e '.[test]'" in CI_RUN  # CI installs what the README installs


@pytest.mark.parametrize("command", readme_commands())
def test_the_readme_commands_parse_and_their_paths_exist(command: str) -> None:
    args = shlex.split(command)[1:]
    ctx = _parse(args)
    for path in ctx.params.get("paths", ()):
        assert (ROOT / path).exists(), f"{command}: {path} does not exist"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    tests = [line for block in sh_blocks(README) for line in block if "pytest" in line]
    assert tests == ["python -m pytest"]
    assert re.search(r"^python -m pytest$", CI_RUN, flags=re.MULTILINE), ".ci/run must run the README command"


def test_the_readme_command_summary_matches_the_cli() -> None:
    block = re.search(r"## Commands\n\n```\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    for line in block[1].splitlines():
        words = line.split()
        command = main.commands.get(words[1])
        assert command is not None, f"README lists `reconciler {words[1]}`, the CLI has no such command"
        if isinstance(command, click.Group):
            continue
        options = {opt for param in command.params for opt in param.opts}
        for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line):
            assert flag in options, f"README: `reconciler {words[1]}` has no option {flag}"


ENVIRONMENTS = ROOT / "examples" / "environments"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_environments_example_validates(stack: str) -> None:
    """examples/environments: stacks calling a module (issue 29) validate offline as shipped."""
    result = CliRunner().invoke(main, ["validate", "-f", str(ENVIRONMENTS / stack)])
    assert result.exit_code == 0, result.output
    assert "The stack is valid" in result.output


def test_the_environments_example_and_its_module_carry_a_modeline() -> None:
    files = sorted(ENVIRONMENTS.rglob("*.yaml"))
    assert len(files) == 3
    for file in files:
        match = MODELINE.search(file.read_text(encoding="utf-8"))
        assert match, f"{file.relative_to(ROOT)} has no yaml-language-server modeline"
        assert (file.parent / match["path"]).resolve() == SCHEMA_FILE.resolve()
        schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        _check(yaml.safe_load(file.read_text(encoding="utf-8")), schema, schema["$defs"], file.name)


def _schema_validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "file",
    sorted(p for p in (ROOT / "examples").rglob("*.yaml") if MODELINE.search(p.read_text("utf-8"))),
    ids=lambda p: str(p.relative_to(ROOT / "examples")),
)
def test_every_example_file_is_valid_against_the_schema_as_an_editor_reads_it(file: Path) -> None:
    """What yaml-language-server does with the modeline: references in values and names included."""
    errors = [e.message for e in _schema_validator().iter_errors(yaml.safe_load(file.read_text("utf-8")))]
    assert errors == []


def test_the_schema_still_refuses_a_mistake_next_to_a_reference() -> None:
    validator = _schema_validator()
    core = {
        "class": "C0",
        "microarchitecture": "Athens",
        "memory_size": 256000,
        "correlation_tracking": "Disable",
    }
    good = {
        "version": 1,
        "cores": {"c-${each.key}": {**core, "for_each": "${var.sizes}", "precision": "${each.value}"}},
    }
    assert list(validator.iter_errors(good)) == []
    typo = {"version": 1, "cores": {"c": {**core, "precison": "${var.p}"}}}
    wrong = {"version": 1, "cores": {"c": {**core, "precision": "big"}}}
    assert list(validator.iter_errors(typo)) and list(validator.iter_errors(wrong))
