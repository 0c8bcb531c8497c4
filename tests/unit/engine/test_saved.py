"""Saved plans as values: what the file holds, and how a recomputed plan is judged against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.engine.deciding.diff import FieldDiff
from reconciler.engine.deciding.plan import Action, Change, Plan
from reconciler.engine.deciding.saved import check, dump, load, restrict, write
from reconciler.errors import PlanError
from reconciler.state.base import digest
from reconciler.values import Desired, LiveObject, LiveState
from tests.support.changes import make_change

CORE = {"class": "C0", "microarchitecture": "Athens", "precision": 128}


def desired(name: str, **attrs: object) -> Desired:
    merged = {**CORE, **attrs}
    return Desired("cores", name, merged, merged)


def live(name: str, remote_id: str, fingerprint: str, precision: int = 128) -> LiveObject:
    return LiveObject("cores", remote_id, (name,), {**CORE, "precision": precision}, name, fingerprint)


def update(name: str, obj: LiveObject, res: Desired, *fields: FieldDiff) -> Change:
    return make_change(f"cores.{name}", Action.UPDATE, "configuration changed", remote_id=obj.remote_id,
                       fields=fields, desired=res, live=obj)  # fmt: skip


def noop(name: str, obj: LiveObject, res: Desired) -> Change:
    return make_change(
        f"cores.{name}", Action.NO_OP, "up to date", remote_id=obj.remote_id, desired=res, live=obj
    )


def saved_for(tmp_path: Path, the_plan: Plan, stack: Path) -> Path:
    out = tmp_path / "plan.json"
    write(dump(the_plan, [stack], sandbox=False), out)
    return out


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    return path


def test_the_file_binds_each_change_to_its_live_object_and_desired_digest(
    tmp_path: Path, stack: Path
) -> None:
    res_a, res_b = desired("a", precision=256), desired("b")
    obj_a, obj_b = live("a", "cor_a", "fp-a"), live("b", "cor_b", "fp-b")
    create = make_change("cores.c", Action.CREATE, "declared", desired=desired("c"))
    the_plan = Plan(
        (update("a", obj_a, res_a, FieldDiff("precision", 128, 256)), noop("b", obj_b, res_b), create)
    )
    doc = json.loads(saved_for(tmp_path, the_plan, stack).read_text())
    assert {k: v for k, v in doc.items() if k != "saved_plan"} == the_plan.to_json()
    bindings = doc["saved_plan"]["bindings"]
    assert bindings["cores.a"] == {"kind": "cores", "remote_id": "cor_a", "live_fingerprint": "fp-a",
                                   "desired_digest": digest(res_a.attrs)}  # fmt: skip
    assert bindings["cores.c"]["live_fingerprint"] is None and bindings["cores.c"]["remote_id"] is None
    assert doc["saved_plan"]["files"][0]["path"] == str(stack)


def test_a_sensitive_value_never_reaches_the_file(tmp_path: Path, stack: Path) -> None:
    res = desired("a", token="hunter2-new-secret")
    obj = live("a", "cor_a", "fp")
    change = update(
        "a", obj, res, FieldDiff("token", "hunter2-old-secret", "hunter2-new-secret", sensitive=True)
    )
    text = saved_for(tmp_path, Plan((change,)), stack).read_text()
    assert "hunter2" not in text and "(sensitive, changed)" in text


def test_check_names_each_stale_resource_and_why(tmp_path: Path, stack: Path) -> None:
    res_a, res_b, res_c = (
        desired("a", precision=256),
        desired("b", precision=256),
        desired("c", precision=256),
    )
    objs = {n: live(n, f"cor_{n}", f"fp-{n}") for n in "abc"}
    diff = FieldDiff("precision", 128, 256)
    the_plan = Plan(tuple(update(n, objs[n], r, diff) for n, r in (("a", res_a), ("b", res_b), ("c", res_c))))
    saved = load(saved_for(tmp_path, the_plan, stack))
    assert check(saved, the_plan, LiveState({"cores": list(objs.values())}), [res_a, res_b, res_c]) == []

    changed_a = live("a", "cor_a", "fp-a-changed")
    now_live = LiveState({"cores": [changed_a, objs["c"]]})  # b deleted outside
    res_c2 = desired("c", precision=512)  # c's YAML changed
    problems = check(saved, the_plan, now_live, [res_a, res_b, res_c2])
    assert problems == ["cores.a (changed outside)", "cores.b (deleted outside reconciler (cor_b))",
                        "cores.c (configuration changed)"]  # fmt: skip


def test_check_compares_the_recomputed_actions(tmp_path: Path, stack: Path) -> None:
    res = desired("a", precision=256)
    obj = live("a", "cor_a", "fp")
    saved = load(saved_for(tmp_path, Plan((update("a", obj, res, FieldDiff("precision", 128, 256)),)), stack))
    now = Plan((update("a", obj, res, FieldDiff("precision", 64, 256)),))
    (problem,) = check(saved, now, LiveState({"cores": [obj]}), [res])
    assert problem == "cores.a (would now be update of precision, not as reviewed)"


def test_restrict_keeps_exactly_the_reviewed_changes(tmp_path: Path, stack: Path) -> None:
    res_a, res_b = desired("a", precision=256), desired("b", precision=256)
    obj_a, obj_b = live("a", "cor_a", "fa"), live("b", "cor_b", "fb")
    diff = FieldDiff("precision", 128, 256)
    saved = load(saved_for(tmp_path, Plan((update("a", obj_a, res_a, diff), noop("b", obj_b, res_b))), stack))
    now = Plan((update("a", obj_a, res_a, diff), update("b", obj_b, res_b, diff)), forget=("cores.gone",))
    kept, others = restrict(saved, now)
    assert [c.address for c in kept.pending()] == ["cores.a"]
    assert others == ["cores.b"] and kept.forget == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not a saved plan (not JSON"),
        ('{"format_version": "1", "changes": []}', "is not a saved plan (it is kept as it is"),
        ('{"format_version": "1", "changes": [], "saved_plan": {"format_version": "9", "bindings": {}}}',
         "unsupported saved plan format '9'"),
        ('{"format_version": "7", "changes": [], "saved_plan": {"format_version": "1", "bindings": {}}}',
         "unsupported plan format_version .7. (this reconciler reads 2 and 1"),
    ],
)  # fmt: skip
def test_load_refuses_what_is_not_a_saved_plan(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace("`", ".")):
        load(path)


def test_a_fields_cause_is_not_what_apply_does(tmp_path: Path, stack: Path) -> None:
    """A saved plan whose fields carry another cause (or none: made before fields had one) holds."""
    res = desired("a", precision=256)
    obj = live("a", "cor_a", "fp")
    reviewed = Plan((update("a", obj, res, FieldDiff("precision", 128, 256, cause="config")),))
    saved = load(saved_for(tmp_path, reviewed, stack))
    for field in saved.doc["changes"][0]["fields"]:
        del field["cause"]
    now = Plan((update("a", obj, res, FieldDiff("precision", 128, 256, cause="drift")),))
    assert check(saved, now, LiveState({"cores": [obj]}), [res]) == []


def test_the_file_names_the_installed_version(tmp_path: Path, stack: Path) -> None:
    from importlib.metadata import version

    doc = dump(Plan(()), [stack], sandbox=False)
    assert doc["saved_plan"]["reconciler_version"] == version("reconciler-iac") != "unknown"


def _v1_change(address: str, action: str, **flags: object) -> dict[str, object]:
    """A change as format_version 1 wrote it: ``noop`` plus flags for what only writes state."""
    return {"address": address, "kind": "cores", "action": action, "adopt": False, "moved_from": None,
            "sync_state": False, "create_before_destroy": False, "remote_id": "cor_x", "fields": [],
            "refused": None, "cause": None, "causes": [], "reason": "", "reason_code": "", "depends_on": [],
            **flags}  # fmt: skip


def test_a_plan_saved_by_the_previous_format_is_read_with_its_actions_explicit(tmp_path: Path) -> None:
    changes = [
        _v1_change("cores.same", "noop"),
        _v1_change("cores.found", "noop", adopt=True),
        _v1_change("cores.renamed", "noop", moved_from="cores.old"),
        _v1_change("cores.kept", "noop", sync_state=True),
        _v1_change("cores.both", "update", adopt=True),
        _v1_change("cores.swap", "replace", create_before_destroy=True),
    ]
    doc = {"format_version": "1", "changes": changes, "summary": {}, "saved_plan": {"format_version": "1",
           "bindings": {}}}  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    saved = load(path)
    assert {a: (c["action"], c["pending"]) for a, c in saved.changes.items()} == {
        "cores.same": ("no-op", False),
        "cores.found": ("adopt", True),
        "cores.renamed": ("move", True),
        "cores.kept": ("state-only", True),
        "cores.both": ("update", True),
        "cores.swap": ("replace", True),
    }
    assert saved.changes["cores.swap"]["replace_order"] == "create-then-delete"
    assert saved.changes["cores.both"]["adopt"] is True
    assert saved.doc["summary"]["no-op"] == 1 and saved.doc["format_version"] == "2"
    assert set(saved.pending()) == set(saved.changes) - {"cores.same"}


def test_a_plan_file_that_is_a_fifo_or_a_device_is_refused_unread(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(PlanError, match=r"the plan file .*plan\.json: not a regular file: a FIFO"):
        load(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(PlanError, match="not a regular file: a character device"):
        load(zero)


@pytest.mark.parametrize("content", ["not json", '{"format_version": "2", "changes": []}'])
def test_the_advice_for_a_file_that_is_not_a_plan_never_overwrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("plan.json").write_text(content, encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load(Path("plan.json"))
    said = str(caught.value)
    assert "--out saved-plan.json`, then `reconciler apply -f STACK saved-plan.json`" in said, said
    assert "--out plan.json" not in said
    Path("saved-plan.json").write_text("{}", encoding="utf-8")  # that name is taken too: the next one
    with pytest.raises(PlanError, match=r"--out saved-plan-2\.json"):
        load(Path("plan.json"))
    assert Path("plan.json").read_text(encoding="utf-8") == content
