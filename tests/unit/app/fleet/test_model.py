"""A stack's status and the fleet's exit code: errored > drifted > pending > in sync; 1 wins over 2."""

from __future__ import annotations

from typing import Any

from reconciler.app.fleet.model import errored_stack, exit_code, fleet_report, notification, stack_result
from tests.support.fleet import change, plan_doc

AT = "2026-01-02T03:04:05Z"


def stack(name: str, *changes: dict[str, Any]) -> dict[str, Any]:
    return stack_result(name, plan_doc(*changes), checked_at=AT, duration_s=0.5, http={})


def noop(address: str) -> dict[str, Any]:
    return change(address, action="no-op", cause=None)


def test_statuses_per_resource_kind_and_stack() -> None:
    drifted = stack("a", change("cores.x", precision=(64, 128)), noop("cores.y"), noop("webhooks.w"))
    assert drifted["status"] == "drifted"
    assert drifted["kinds"] == {
        "cores": {"drifted": 1, "pending": 0, "in_sync": 1},
        "webhooks": {"drifted": 0, "pending": 0, "in_sync": 1},
    }
    assert [c["address"] for c in drifted["changes"]] == ["cores.x"]  # no-ops are counted, not listed
    pending = stack("b", change("cores.x", cause="config", precision=(64, 128)), noop("cores.y"))
    assert pending["status"] == "pending"
    assert stack("c", noop("cores.x"))["status"] == "in_sync"


def test_a_field_that_drifted_makes_a_config_change_drifted_and_keeps_its_own_cause() -> None:
    both = change("cores.x", cause="config", precision=(64, 128, "config"), memory_size=(1, 2, "drift"))
    result = stack("a", both)
    assert result["status"] == "drifted"
    assert [(f["path"], f["cause"]) for f in result["changes"][0]["fields"]] == [
        ("precision", "config"),
        ("memory_size", "drift"),
    ]
    assert result["changes"][0]["causes"] == ["config", "drift"]  # the plan's own list, kept as is


def test_a_state_only_change_is_pending_as_drift_dash_f_would_exit_2() -> None:
    state_only = change("cores.x", action="state-only", cause="config")
    assert stack("a", state_only)["status"] == "pending"


def test_an_adoption_is_pending_not_in_sync() -> None:
    adopt = change("cores.x", action="adopt", cause=None)
    assert stack("a", adopt)["status"] == "pending"


def test_exit_code_precedence_error_over_drift_over_in_sync() -> None:
    ok, drifted = stack("ok", noop("cores.x")), stack("d", change("cores.x", precision=(1, 2)))
    broken = errored_stack("e", "boom", checked_at=AT, duration_s=0.1, http={})
    assert fleet_report([ok], generated_at=AT, duration_s=1)["exit_code"] == 0
    assert fleet_report([ok, drifted], generated_at=AT, duration_s=1)["exit_code"] == 2
    report = fleet_report([drifted, broken, ok], generated_at=AT, duration_s=1)
    assert report["exit_code"] == 1
    assert report["summary"]["errored"] == 1 and report["summary"]["drifted"] == 1
    assert [s["name"] for s in report["stacks"]] == ["d", "e", "ok"]
    assert exit_code(report["summary"] | {"errored": 0}, incomplete=True) == 1  # a shard missing


def test_the_notification_is_one_summary_naming_the_stacks_to_look_at() -> None:
    stacks = [stack(f"s{i}", change("cores.x", precision=(1, 2))) for i in range(12)]
    stacks.append(stack("quiet", noop("cores.x")))
    message = notification(fleet_report(stacks, generated_at=AT, duration_s=1), limit=5)
    assert message["text"].startswith("reconciler fleet drift: 13 stacks: 12 drifted, 1 in sync (s0, s1")
    assert message["text"].endswith("and 2 more)")
    assert len(message["stacks"]) == 5 and message["stacks_not_listed"] == 7
    assert "changes" not in message["stacks"][0]  # no field values in a chat message


def test_policy_verdicts_of_another_shape_are_read_as_none() -> None:
    """A merged report is a file from elsewhere: a stack's policy of the wrong shape is no verdict."""
    from reconciler.app.fleet.model import policy_denied, policy_findings

    for policy in ("denied", ["x"], {"denied": "yes", "results": "all"}, {"results": [1, {"denials": "x"}]}):
        stack = {"name": "s", "policy": policy}
        assert not policy_denied(stack) and policy_findings(stack) == []
    good = {
        "policy": {"denied": True, "results": [{"denials": [{"rule": "deny", "msg": 5}], "warnings": []}]}
    }
    assert policy_denied(good) and policy_findings(good) == [("deny", {"rule": "deny", "msg": "5"})]


def test_the_next_command_repeats_how_the_stacks_were_checked() -> None:
    from pathlib import Path

    from reconciler.app.fleet.model import checked_with, next_command
    from reconciler.app.policy_gate import PolicyChoice

    pending = {"name": "stacks/team a/prod", "status": "pending"}
    assert next_command(pending) == "reconciler apply -f 'stacks/team a/prod'"  # an older report
    assert next_command(pending, checked_with(True)) == "reconciler apply --sandbox -f 'stacks/team a/prod'"
    how = checked_with(False, PolicyChoice((Path("my policies"),), "gates"))
    assert next_command({**pending, "status": "errored"}, how) == (
        "reconciler plan -f 'stacks/team a/prod' --policy 'my policies' --policy-namespace gates"
    )
    assert checked_with(False, PolicyChoice((Path("p"),)))["policy_namespace"] is None  # main: the default
    assert next_command({**pending, "status": "in_sync"}, how) is None


def test_the_next_command_repeats_the_environment_that_chose_the_state() -> None:
    from reconciler.app.fleet.model import checked_with, next_command

    environ = {
        "RECONCILER_STATE_BACKEND": "postgres",
        "RECONCILER_STATE_STACK": "team a",
        "RECONCILER_PG_DSN": "x",
    }
    how = checked_with(False, None, environ)
    assert how["environment"] == {"RECONCILER_STATE_BACKEND": "postgres", "RECONCILER_STATE_STACK": "team a"}
    assert next_command({"name": "s", "status": "drifted"}, how) == (
        "RECONCILER_STATE_BACKEND=postgres RECONCILER_STATE_STACK='team a' reconciler plan -f s"
    )  # never the DSN: a person's shell has its own
    assert checked_with(True, None, environ)["environment"] == {}  # a sandbox keeps its own state
    hostile = {
        "sandbox": False,
        "environment": {"LD_PRELOAD": "/tmp/x.so", "RECONCILER_STATE_BACKEND": "local"},
    }
    assert next_command({"name": "s", "status": "pending"}, hostile) == (
        "RECONCILER_STATE_BACKEND=local reconciler apply -f s"
    )
