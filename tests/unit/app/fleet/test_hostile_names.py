"""Hostile stack names, messages and API values through every rendering, each result parsed as its
reader would: no table broken, no code span or fence closed, no heading, image or element added,
every name shown once, as ``reconciler.common.escape.shown`` writes it, and valid UTF-8 throughout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.app.fleet import FORMATS, render
from reconciler.app.fleet.model import errored_stack, fleet_report, notification, stack_result
from reconciler.cli.notify import drift_report
from reconciler.common.escape import shown
from reconciler.engine.presenting.render import render_markdown as render_plan_markdown
from tests.support.fleet import change, plan_doc
from tests.support.markup import parse_html, parse_markdown

AT = "2026-01-02T03:04:05Z"
HOSTILE = [
    "fleet/back`tick",
    "fleet/pi|pe",
    "fleet/new\nline",
    "fleet/# heading",
    "fleet/![x](https://evil.example/pixel.png)",
    "fleet/<script>alert(1)</script>",
    "fleet/not-utf8-\udcff\udcfe",
    "fleet/``` fence",
    "fleet/\x1b[31mred\u202e",
    "fleet/\"quote' & <b>",
]
EVIL = "`x` | ![img](https://evil.example/i.png)\n# injected\n```\n<img src=x onerror=alert(1)>"


# A field name that is Markdown syntax, typed so it cannot be taken for ``action`` or ``cause``.
HOSTILE_FIELD: dict[str, Any] = {"pre|cision`": (EVIL, 128)}


def hostile_report() -> dict[str, Any]:
    stacks = [
        stack_result(
            name,
            plan_doc(change("cores.x", **HOSTILE_FIELD)),
            checked_at=AT,
            duration_s=0.1,
            http={},
        )
        for name in HOSTILE[:5]
    ]
    stacks += [
        errored_stack(name, f"{name}/stack.yaml:1:1: {EVIL}", checked_at=AT, duration_s=0.0, http={})
        for name in HOSTILE[5:]
    ]
    return fleet_report(stacks, generated_at=AT, duration_s=1.0)


NAMES = sorted(shown(n) for n in HOSTILE)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_valid_utf8(fmt: str) -> None:
    render(hostile_report(), fmt).encode("utf-8")  # strict: a lone surrogate would raise


def test_markdown_keeps_its_structure() -> None:
    doc = parse_markdown(render(hostile_report(), "markdown"))
    assert doc.images == [] and doc.html == [] and doc.links == []
    assert doc.headings[0] == (2, "reconciler fleet drift")
    assert sorted(text.rsplit(" — ", 1)[0] for _level, text in doc.headings[1:]) == NAMES
    summary, attention = doc.tables
    assert len(summary) == 1
    assert [len(row) for row in attention] == [5] * len(HOSTILE)
    assert sorted(row[0] for row in attention) == NAMES
    assert len(doc.fences) == 5 and all("<img src=x onerror=alert(1)>" in f for f in doc.fences)


def test_html_adds_no_element_and_shows_every_name() -> None:
    page = parse_html(render(hostile_report(), "html"))
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr", "th", "td"}
    page_parts = {"header", "main", "div", "button", "strong", "ul", "li", "input", "label", "thead", "tbody"}
    assert page.tags() <= allowed | page_parts | {"a", "code", "span", "details", "summary", "pre", "script"}
    assert sorted(name or "" for name in page.attrs("details", "data-name")) == NAMES
    assert sorted(name or "" for name in page.attrs("tr", "data-name")) == NAMES
    assert sorted(page.texts["summary"]) == sorted(f"{label} {n}" for n, label in _labels())
    assert sum("<img src=x onerror=alert(1)>" in text for text in page.texts["pre"]) == 5


def test_the_terminal_table_shows_each_name_on_one_row_without_control_characters() -> None:
    text = render(hostile_report(), "text")
    assert "\x1b" not in text and "\u202e" not in text  # a name cannot drive the terminal
    rows = [line for line in text.splitlines() if line.startswith(("drifted ", "errored "))]
    assert len(rows) == len(HOSTILE)
    assert sorted(next(n for n in NAMES if n in row) for row in rows) == NAMES


def _labels() -> list[tuple[str, str]]:
    return [(shown(n), "drifted") for n in HOSTILE[:5]] + [(shown(n), "errored") for n in HOSTILE[5:]]


def test_json_round_trips_the_shown_names() -> None:
    doc = json.loads(render(hostile_report(), "json").encode("utf-8"))
    assert [s["name"] for s in doc["stacks"]] == NAMES


def test_prometheus_labels_are_the_shown_names() -> None:
    text = render(hostile_report(), "prometheus")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    labels = {s.labels["stack"] for s in families["reconciler_drift_stack_status"].samples}
    assert sorted(labels) == NAMES


def test_notification_text_is_one_line_of_plain_markdown() -> None:
    text = notification(hostile_report())["text"]
    doc = parse_markdown(text)
    assert "\n" not in text and doc.images == [] and doc.html == [] and doc.headings == []


def test_drift_notify_text_is_escaped() -> None:
    report = drift_report(plan_doc(change("cores.![x](https://e/i.png)<b>", precision=(1, 2))), drifted=True)
    doc = parse_markdown(report["text"])
    assert doc.images == [] and doc.html == []


def test_plan_markdown_keeps_hostile_values_in_their_cells() -> None:
    doc = plan_doc(change("cores.x", **HOSTILE_FIELD))
    doc["summary"] = {"create": 0, "update": 1, "replace": 0, "delete": 0}
    parsed = parse_markdown(render_plan_markdown(doc, report="drift"))
    assert parsed.images == [] and parsed.links == []
    assert [h for _l, h in parsed.headings] == [
        "reconciler drift report",
        "Changed outside reconciler since it last applied (drift)",
    ]
    outside, fields = parsed.tables[1:]
    assert outside == [["cores.x", "pre|cision`", "128", json.dumps(EVIL)]]
    assert fields == [["pre|cision`", json.dumps(EVIL), "128"]]
    assert all(not block.lstrip().startswith("<img") for block in parsed.html)
