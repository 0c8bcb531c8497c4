"""The delete rules are one pure function: changes in, changes out, the input left as it was."""

from __future__ import annotations

from reconciler.engine.deciding.changes import Action, Reason
from reconciler.engine.deciding.deletes import DeleteContext, apply_delete_rules
from reconciler.state.base import StateEntry, StateSnapshot
from reconciler.values import LiveObject, LiveState
from tests.support.changes import make_change


def test_rules_return_new_changes_and_leave_their_input_alone() -> None:
    old = LiveObject("cores", "cor_old", ("c",), {}, "c")
    new = LiveObject("cores", "cor_new", ("c",), {}, "c")
    entry = StateEntry(kind="cores", remote_id="cor_new", key=("c",), digest="d", deposed=("cor_old",))
    state = StateSnapshot({"cores.c": entry})
    changes = {"cores.c": make_change("cores.c", Action.NO_OP, remote_id="cor_new", live=new)}
    before = dict(changes)
    by_id = {"cores": {"cor_old": old, "cor_new": new}}
    context = DeleteContext(
        (), LiveState({"cores": [old, new]}), state, by_id, {("cores", "cor_new"): "cores.c"}
    )

    out, warnings = apply_delete_rules(changes, context)

    assert changes == before
    deposed = out["cores.c#deposed-cor_old"]
    assert (deposed.action, deposed.reason_code, deposed.remote_id) == (
        Action.DELETE,
        Reason.DEPOSED,
        "cor_old",
    )
    assert (deposed.deposed_of, warnings) == ("cores.c", [])
    assert out["cores.c"] == changes["cores.c"]
