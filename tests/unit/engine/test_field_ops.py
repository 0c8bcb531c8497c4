"""Field diffs carry their op (add / remove / change): a key set to null is not a key taken away,
and the plan JSON and every rendering say which."""

from __future__ import annotations

from typing import Any

from reconciler.engine.deciding.changes import Action, Plan, Reason
from reconciler.engine.deciding.deletes import for_destroy
from reconciler.engine.deciding.diff import diff_attrs
from reconciler.engine.presenting.render import render_markdown, render_text
from reconciler.kinds.base import Kind, SpecModel
from tests.support.changes import make_change

# A kind with a plain (not partial) mapping field, so a key can be taken away.
KIND = Kind(
    name="things", provider="test", spec=SpecModel, summary="", natural_key=lambda n, a: (n,), key_doc=""
)


def ops(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, tuple[str, Any, Any]]:
    return {d.path: (d.op, d.before, d.after) for d in diff_attrs(KIND, desired, live)}


def test_nested_keys_added_removed_set_to_null_and_changed() -> None:
    live = {"labels": {"gone": 1, "nulled": 2, "changed": 3}}
    desired = {"labels": {"nulled": None, "changed": 4, "new": 5}}
    assert ops(desired, live) == {
        "labels.gone": ("remove", 1, None),
        "labels.nulled": ("change", 2, None),
        "labels.changed": ("change", 3, 4),
        "labels.new": ("add", None, 5),
    }


def test_lists_inside_a_mapping_are_diffed_per_element() -> None:
    """What deepdiff is kept for: a changed list names the elements that came and went; a list
    only reordered is still a change (order counts in a value), shown as the whole field."""
    reordered = ops({"labels": {"tags": ["a", "b"]}}, {"labels": {"tags": ["b", "a"]}})
    assert reordered == {"labels": ("change", {"tags": ["b", "a"]}, {"tags": ["a", "b"]})}
    assert ops({"labels": {"tags": ["a", "c", "d"]}}, {"labels": {"tags": ["d", "a", "b"]}}) == {
        "labels.tags.1": ("add", None, "c"),
        "labels.tags.2": ("remove", "b", None),
    }


def test_top_level_fields_null_clears_a_field() -> None:
    assert ops({"core": None, "branch": "b", "note": "n"}, {"core": "c", "branch": "a"}) == {
        "core": ("remove", "c", None),
        "branch": ("change", "a", "b"),
        "note": ("add", None, "n"),
    }


def _rendered() -> tuple[dict[str, Any], str, str]:
    fields = tuple(diff_attrs(KIND, {"labels": {"nulled": None}}, {"labels": {"gone": 1, "nulled": 2}}))
    doc = Plan((make_change("things.t", Action.UPDATE, remote_id="t1", fields=fields),)).to_json()
    return doc, render_text(doc), render_markdown(doc)


def test_set_to_null_and_absent_render_differently() -> None:
    doc, text, markdown = _rendered()
    assert [(f["path"], f["op"]) for f in doc["changes"][0]["fields"]] == [
        ("labels.gone", "remove"),
        ("labels.nulled", "change"),
    ]
    assert "- labels.gone   = 1" in text
    assert "~ labels.nulled = 2 → null" in text
    assert "| `labels.gone` | `1` |  |" in markdown
    assert "| `labels.nulled` | `2` | `null` |" in markdown


def test_a_saved_plan_without_ops_still_renders_from_its_nulls() -> None:
    doc, _, _ = _rendered()
    for f in doc["changes"][0]["fields"]:
        del f["op"]
    assert "- labels.nulled = 2" in render_text(doc)


def test_destroy_says_so_in_its_reason_code() -> None:
    planned = Plan(
        (make_change("things.t", Action.DELETE, "no longer in the configuration", remote_id="t1"),)
    )
    change = for_destroy(planned).changes[0]
    assert (change.reason_code, change.to_json()["reason_code"]) == (Reason.DESTROY, "destroy")
