"""Words a person meets, as the CLI says them against the in-process sandbox: counts of 0, 1 and 2,
where state is, a plan for another stack, a stack whose files and state disagree, YAML's booleans."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.cli import RunCli

CORE = {"class": "C0", "microarchitecture": "Athens", "precision": 128, "memory_size": 256000,
        "correlation_tracking": "Autocorrelation"}  # fmt: skip


def write(path: Path, **sections: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, **sections}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("count", "said"), [(1, "Checking 1 stack…"), (2, "Checking 2 stacks…")])
def test_the_fleet_counts_in_words(tmp_path: Path, run_cli: RunCli, count: int, said: str) -> None:
    for i in range(count):
        folder = tmp_path / "fleet" / f"s{i}"
        write(folder / "stack.yaml", cores={f"c{i}": CORE})
        assert run_cli("apply", "--sandbox", "--auto-approve", "-f", folder).exit_code == 0
    changed = tmp_path / "fleet" / "s0" / "stack.yaml"
    write(changed, cores={"c0": {**CORE, "precision": 256}})
    result = run_cli("drift", "--sandbox", "--stacks", tmp_path / "fleet")
    assert result.exit_code == 2, result
    assert said in result.stderr
    assert "s0: pending (1 change)" in result.stderr and "1 changes" not in result.output
    assert f"{count} stack{'s' if count > 1 else ''} checked" in result.stdout


def test_every_plan_header_says_where_state_is(tmp_path: Path, run_cli: RunCli) -> None:
    stack = write(tmp_path / "s" / "stack.yaml", cores={"c": CORE})
    text = run_cli("plan", "--sandbox", "-f", stack)
    assert text.stdout.splitlines()[1].startswith("State: local file "), text
    markdown = run_cli("plan", "--sandbox", "-f", stack, "--format", "markdown")
    assert "\nState: `local file " in markdown.stdout
    drift = run_cli("drift", "--sandbox", "-f", stack)
    assert drift.stdout.splitlines()[1].startswith("State: local file "), drift


def test_files_and_state_that_disagree_are_refused(tmp_path: Path, run_cli: RunCli) -> None:
    a = write(tmp_path / "a.yaml", cores={"a1": CORE})
    b = write(tmp_path / "b.yaml", cores={"b1": CORE, "b2": CORE})
    assert run_cli("apply", "--sandbox", "--auto-approve", "-f", a, "-f", b).exit_code == 0
    alone = run_cli("plan", "--sandbox", "-f", a)
    assert alone.exit_code == 1, alone
    assert "would delete cores.b1, cores.b2 as no longer declared" in alone.stderr
    assert f"{b} beside this stack's files still declares them" in alone.stderr
    assert run_cli("apply", "--sandbox", "--auto-approve", "-f", a).exit_code == 1
    assert run_cli("plan", "--sandbox", "-f", a, "-f", b, "--detailed-exitcode").exit_code == 0
    # Removing them from b.yaml is how to delete them: then the plan goes ahead.
    write(b, cores={"b1": CORE})
    plan = run_cli("plan", "--sandbox", "-f", a, "-f", b)
    assert plan.exit_code == 0 and "cores.b2 will be destroyed" in plan.stdout, plan


def test_folders_applied_together_are_refused_apart(tmp_path: Path, run_cli: RunCli) -> None:
    """``-f team-a -f team-b`` keeps state in team-a; a later ``plan -f team-a`` would delete team-b's
    resources. team-b's file is not beside team-a's, so what names it is the list of files the stack
    was last applied with, kept beside the state."""
    a = write(tmp_path / "team-a" / "stack.yaml", cores={"a1": CORE})
    b = write(tmp_path / "team-b" / "stack.yaml", cores={"b1": CORE})
    both = ["-f", a.parent, "-f", b.parent]
    assert run_cli("apply", "--sandbox", "--auto-approve", *both).exit_code == 0
    alone = run_cli("plan", "--sandbox", "-f", a.parent)
    assert alone.exit_code == 1, alone
    assert f"would delete cores.b1 as no longer declared, but {b} last applied with this stack, still" in (
        " ".join(alone.stderr.split())
    ), alone.stderr
    assert run_cli("apply", "--sandbox", "--auto-approve", "-f", a.parent).exit_code == 1
    assert run_cli("plan", "--sandbox", *both, "--detailed-exitcode").exit_code == 0
    b.unlink()  # the file gone: deleting what it declared is what the user asks for
    gone = run_cli("plan", "--sandbox", "-f", a.parent)
    assert gone.exit_code == 0 and "cores.b1 will be destroyed" in gone.stdout, gone


def test_a_plan_for_another_stack_says_so(tmp_path: Path, run_cli: RunCli) -> None:
    one = write(tmp_path / "one" / "stack.yaml", cores={"c1": CORE})
    two = write(tmp_path / "two" / "stack.yaml", cores={"c2": CORE})
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "--sandbox", "-f", one, "--out", saved).exit_code == 0
    result = run_cli("apply", "--sandbox", "-f", two, saved)
    assert result.exit_code == 1
    assert (
        "is a plan for another stack" in result.stderr
        and "no longer in the configuration" not in result.output
    )


def test_yaml_booleans_are_explained(tmp_path: Path, run_cli: RunCli) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "version: 1\nwebhooks:\n"
        "  h: {url: 'https://hooks.example.com/h', events: [task-status], status: on}\n"
    )
    result = run_cli("validate", "-f", stack)
    assert result.exit_code == 1
    assert "got True (YAML reads on/off, yes/no and true/false unquoted as booleans" in result.stderr


def test_a_stack_file_that_is_a_list_is_called_one(tmp_path: Path, run_cli: RunCli) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text("- cores\n")
    result = run_cli("validate", "-f", stack)
    assert "must be a mapping (version:, cores:, …), not a list" in result.stderr
    assert "MarkedList" not in result.stderr


def test_destroy_of_an_empty_stack_says_there_is_nothing_to_destroy(tmp_path: Path, run_cli: RunCli) -> None:
    stack = write(tmp_path / "s" / "stack.yaml", cores={"c": CORE})
    result = run_cli("destroy", "--sandbox", "--auto-approve", "-f", stack)
    assert result.exit_code == 0
    assert result.stdout.startswith("Nothing to destroy. The state records no resource of this stack.")
