"""Policy findings in the plan's renderings: rule and message, and Markdown that a message cannot break."""

from __future__ import annotations

from typing import Any

from reconciler.engine.presenting.render import render_markdown, render_text

DOC: dict[str, Any] = {
    "format_version": "1",
    "changes": [],
    "summary": {"create": 0, "update": 0, "replace": 0, "delete": 0, "adopt": 0, "move": 0},
    "unmanaged": [],
    "warnings": [],
    "errors": [],
    "policy": {
        "denied": True,
        "results": [
            {
                "policies": ["policy"],
                "namespace": "main",
                "enforcement": "mandatory",
                "denied": True,
                "denials": [
                    {"rule": "deny_x", "msg": "a | b <img src=x> `code` **bold**\nnext", "metadata": {}}
                ],
                "warnings": [{"rule": "warn", "msg": "careful", "metadata": {}}],
            }
        ],
    },
}


def test_text_shows_rule_and_message() -> None:
    text = render_text(DOC)
    assert "Policy policy: DENIED (1 denial); this plan must not be applied" in text
    assert "✗ [deny_x] a | b <img src=x>" in text and "! [warn] careful" in text


def test_markdown_escapes_what_a_message_holds() -> None:
    markdown = render_markdown(DOC)
    row = next(line for line in markdown.splitlines() if line.startswith("| ✗ deny"))
    # common/escape.py's md_text: a newline is shown as \n, so one message stays one table row.
    assert row == "| ✗ deny | `deny_x` | a \\| b &lt;img src=x&gt; \\`code\\` \\*\\*bold\\*\\*\\\\nnext |"
    assert "| ⚠ warn | `warn` | careful |" in markdown


def test_no_policy_section_without_policies() -> None:
    plain = {k: v for k, v in DOC.items() if k != "policy"}
    assert "Policy" not in render_text(plain) and "Policy" not in render_markdown(plain)


def test_text_neutralises_terminal_escapes_in_a_message() -> None:
    doc = {**DOC, "policy": {"denied": False, "results": [{**DOC["policy"]["results"][0], "denials": [],
           "warnings": [{"rule": "warn", "msg": "\x1b]0;owned\x07 look", "metadata": {}}]}]}}  # fmt: skip
    text = render_text(doc)
    assert "\x1b" not in text and "\\x1b]0;owned\\x07 look" in text
