"""Rendering: golden files for text, JSON and Markdown; the Markdown size cap; sensitive values.

Plans come from the plan cases (tests/plan_cases), so the golden files show real plans.
``UPDATE_GOLDEN=1 python -m pytest tests/unit/engine/test_render.py`` rewrites them; review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.deciding.diff import FieldDiff
from reconciler.engine.deciding.plan import Action, Plan, plan
from reconciler.engine.presenting.render import render_json, render_markdown, render_text, summary_line
from reconciler.state.base import StateSnapshot
from reconciler.values import LiveState
from tests.support.changes import make_change
from tests.support.markup import table_rows
from tests.support.plan_cases import CASES_DIR, desired_from, load_case, make_plan

GOLDEN = Path(__file__).parents[2] / "golden"
PLANS = {
    "renamed_core": "core_renamed_repoints_repository",  # create, update (known after apply), delete
    "replace": "replace_on_remote_url",  # -/+ with the forcing field
    "adopt_unmanaged": "adopt_by_natural_key_update",  # adoption with a change, an unmanaged object
    "no_changes": "noop_in_state",
    "config_and_drift": "config_and_drift_in_one_change",  # per-field causes, the drift section
    "deleted_outside": "deleted_live_is_recreated_as_drift",
    "adopt": "adopt_by_natural_key_noop",  # the actions that only write state, one each
    "move": "renamed_in_yaml_is_moved",
    "state_only": "prevent_destroy_turned_on_is_state_only",
}
RENDERERS = {"txt": render_text, "json": render_json, "md": render_markdown}


def plan_doc(case: str, tmp_path: Path) -> dict[str, Any]:
    return make_plan(load_case(CASES_DIR / f"{case}.yaml"), tmp_path).to_json()


@pytest.mark.parametrize("ext", sorted(RENDERERS))
@pytest.mark.parametrize("name", sorted(PLANS))
def test_golden(name: str, ext: str, tmp_path: Path) -> None:
    rendered = RENDERERS[ext](plan_doc(PLANS[name], tmp_path))
    path = GOLDEN / f"{name}.{ext}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_renderer_reads_only_the_json(name: str, tmp_path: Path) -> None:
    doc = plan_doc(PLANS[name], tmp_path)
    reread = json.loads(render_json(doc))
    assert reread == doc
    assert render_text(reread) == render_text(doc)
    assert render_markdown(reread) == render_markdown(doc)


def test_text_has_no_colour_unless_styled(tmp_path: Path) -> None:
    doc = plan_doc(PLANS["renamed_core"], tmp_path)
    plain = render_text(doc)
    assert "\x1b[" not in plain
    styled = render_text(doc, style=lambda text, colour: f"<{colour}>{text}</{colour}>")
    assert "<green>  + cores.new</green>" in styled and "<red>  - cores.old</red>" in styled
    assert re.sub(r"</?[a-z]+>", "", styled) == plain


def test_summary_line_counts_every_action(tmp_path: Path) -> None:
    doc = plan_doc(PLANS["renamed_core"], tmp_path)
    assert summary_line(doc) == "Plan: 1 to add, 1 to change, 0 to replace, 1 to destroy."
    adopt = plan_doc(PLANS["adopt_unmanaged"], tmp_path)
    assert summary_line(adopt).endswith("0 to destroy. 1 to adopt.")


def many_webhooks(count: int, tmp_path: Path, description: str = "x") -> dict[str, Any]:
    snippet = {
        "webhooks": {
            f"hook-{i:04d}": {
                "url": f"https://hooks.example.com/{i}",
                "events": ["task-status", "build-status"],
                "description": description,
            }
            for i in range(count)
        }
    }
    return plan(desired_from(snippet, tmp_path), LiveState(), StateSnapshot()).to_json()


@pytest.mark.parametrize("cap", [3_000, 10_000, 60_000])
def test_markdown_stays_under_the_cap_and_never_cuts_a_table(cap: int, tmp_path: Path) -> None:
    doc = many_webhooks(400, tmp_path)
    text = render_markdown(doc, max_chars=cap)
    assert len(text) <= cap
    assert text.startswith("### reconciler plan\n\n| create | update | replace | delete | adopt |\n")
    assert "| 400 | 0 | 0 | 0 | 0 |" in text
    sections = re.findall(r"<details>.*?</details>", text, flags=re.DOTALL)
    assert text.count("<details>") == text.count("</details>") == len(sections) >= 1
    by_address = {c["address"]: c for c in doc["changes"]}
    for section in sections:
        address = re.search(r"<b>(.+?)</b>", section)
        assert address is not None
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        assert len(rows) == len(by_address[address[1]]["fields"])  # the whole table, every row
    hidden = 400 - len(sections)
    assert hidden > 0
    assert f"_… {hidden} more changes not shown (size cap); see the JSON plan for all of them._" in text


def test_markdown_is_whole_when_it_fits(tmp_path: Path) -> None:
    doc = many_webhooks(3, tmp_path)
    text = render_markdown(doc)
    assert text.count("</details>") == 3 and "not shown" not in text


def test_markdown_cells_are_bounded_and_escaped(tmp_path: Path) -> None:
    doc = many_webhooks(1, tmp_path, description="a|b <script>" + "z" * 500)
    text = render_markdown(doc)
    (row,) = [line for line in text.splitlines() if line.startswith("| `description`")]
    assert len(row) < 260
    # Parsed as GitHub would: one row of three cells, the value a code span (its <script> is text).
    (cells,) = [cells for cells in table_rows(text) if cells[0] == "description"]
    assert len(cells) == 3 and cells[2].startswith('"a|b <script>zzz') and cells[2].endswith("…")


def sensitive_plan() -> Plan:
    secret = FieldDiff("secret", "old-secret-value", "new-secret-value", sensitive=True)
    plain = FieldDiff("description", "before", "after")
    change = make_change("webhooks.hook", Action.UPDATE, "configuration changed", remote_id="wh_1",
                         fields=(plain, secret))  # fmt: skip
    create = make_change(
        "webhooks.new",
        Action.CREATE,
        "declared, not found live",
        fields=(FieldDiff("secret", None, "new-secret-value", sensitive=True),),
    )
    return Plan((change, create))


@pytest.mark.parametrize("ext", sorted(RENDERERS))
def test_sensitive_values_never_render(ext: str) -> None:
    doc = sensitive_plan().to_json()
    text = RENDERERS[ext](doc)
    assert "secret-value" not in text
    assert "(sensitive, changed)" in text
    assert "before" in text and "after" in text  # ordinary fields still show their values


def test_sensitive_fields_in_the_json() -> None:
    fields = sensitive_plan().to_json()["changes"][0]["fields"]
    assert fields[1] == {
        "path": "secret",
        "op": "change",
        "before": "(sensitive, changed)",
        "after": "(sensitive, changed)",
        "sensitive": True,
        "after_unknown": False,
        "forces_replacement": False,
        "cause": None,
    }
    text = render_text(sensitive_plan().to_json())
    assert "      ~ secret      = (sensitive, changed)" in text


def test_a_user_string_in_parentheses_is_quoted(tmp_path: Path) -> None:
    doc = many_webhooks(1, tmp_path, description="(beta)")
    assert '"(beta)"' in render_text(doc)


def test_a_two_thousand_change_plan_renders_under_sixty_thousand_characters(tmp_path: Path) -> None:
    """Issue 6's figure, with the default cap a pull-request comment gets."""
    doc = many_webhooks(2000, tmp_path)
    text = render_markdown(doc)
    assert len(text) < 60_000
    assert "| 2000 | 0 | 0 | 0 | 0 |" in text
    shown = text.count("<details>")
    assert shown == text.count("</details>") and shown > 50
    assert f"_… {2000 - shown} more changes not shown (size cap)" in text
