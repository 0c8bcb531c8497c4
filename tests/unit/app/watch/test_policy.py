"""What a watch check may write: detect-only by default; sync, heal and allow_delete each open
one door; prevent_destroy, contested resources and suspension keep them shut; a change that needs
a held one first is held too."""

from __future__ import annotations

import pytest

from reconciler.app.watch.policy import Permissions, decide, narrow, permissions
from reconciler.config.watch import WatchSettings, parse_duration
from reconciler.engine.deciding.changes import Action, Cause, Plan
from reconciler.engine.deciding.diff import FieldDiff
from tests.support.changes import make_change

DRIFT = make_change(
    "cores.drifted", Action.UPDATE, cause=Cause.DRIFT, fields=(FieldDiff("precision", 8, 16, cause="drift"),)
)
CONFIG = make_change("cores.edited", Action.UPDATE, fields=(FieldDiff("precision", 8, 16, cause="config"),))
BOTH = make_change(
    "cores.both",
    Action.UPDATE,
    fields=(FieldDiff("precision", 8, 16, cause="config"), FieldDiff("class", "C0", "C1", cause="drift")),
)
NEW = make_change("cores.new", Action.CREATE)
GONE = make_change("cores.gone", Action.DELETE)
REPLACED = make_change("cores.replaced", Action.REPLACE)
PROTECTED = make_change("cores.kept", Action.DELETE, refused="lifecycle.prevent_destroy")
DEPENDENT = make_change("repositories.r", Action.CREATE, depends_on=("cores.gone",))
ADOPTED = make_change("cores.found", Action.ADOPT)  # state-only bookkeeping: the YAML asks for it
UNCHANGED = make_change("cores.same", Action.NO_OP)
PLAN = Plan((DRIFT, CONFIG, BOTH, NEW, GONE, REPLACED, PROTECTED, DEPENDENT, ADOPTED, UNCHANGED))


def applied(allowed: Permissions, contested: tuple[str, ...] = ()) -> set[str]:
    return set(decide(PLAN, allowed, contested).apply)


def test_detect_only_writes_nothing_and_says_why() -> None:
    decision = decide(PLAN, Permissions())
    assert decision.apply == frozenset()
    assert decision.held["cores.drifted"] == "drift; heal is off"
    assert decision.held["cores.edited"] == "configuration change; sync is off"
    assert decision.held["cores.gone"] == "a delete needs watch.allow_delete"
    assert "cores.same" not in decision.held  # nothing to do is not held


def test_heal_reverts_drift_only_and_sync_applies_config_only() -> None:
    assert applied(Permissions(heal=True)) == {"cores.drifted"}
    assert applied(Permissions(sync=True)) == {"cores.edited", "cores.new", "cores.found"}
    both = {"cores.drifted", "cores.edited", "cores.both", "cores.new", "cores.found"}
    assert applied(Permissions(sync=True, heal=True)) == both


def test_deletes_and_replaces_need_allow_delete_and_prevent_destroy_always_holds() -> None:
    everything = Permissions(sync=True, heal=True, allow_delete=True)
    assert applied(everything) == {c.address for c in PLAN.pending()} - {"cores.kept"}
    assert "cores.kept" in decide(PLAN, everything).held


def test_a_change_that_needs_a_held_one_is_held() -> None:
    decision = decide(PLAN, Permissions(sync=True))
    assert decision.held["repositories.r"] == "waits for cores.gone"


def test_contested_and_suspended_are_never_written() -> None:
    assert "cores.drifted" not in applied(Permissions(heal=True), contested=("cores.drifted",))
    assert applied(Permissions(sync=True, heal=True, allow_delete=True, suspended=True)) == set()


def test_narrow_keeps_the_allowed_changes_and_the_no_ops() -> None:
    decision = decide(PLAN, Permissions(heal=True))
    assert [c.address for c in narrow(PLAN, decision).changes] == ["cores.drifted", "cores.same"]


def test_the_yaml_wins_over_the_flags_and_the_global_switch_over_both() -> None:
    flags = Permissions(sync=True, heal=True, interval_s=300)
    written = WatchSettings.model_validate({"heal": False, "interval": "30s"})
    assert permissions(written, flags, suspend_all=False) == Permissions(sync=True, heal=False, interval_s=30)
    assert permissions(WatchSettings(), flags, suspend_all=True).suspended


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1.5s", 1.5), (" 2M ", 120)],
)
def test_durations_as_argo_and_flux_users_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "0s", "500ms", "5 m", "-1s", "1y", "8d", "1h-"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
