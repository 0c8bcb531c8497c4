"""Issue 18.9: a state file of the wrong kind, shape, encoding or nesting is one clear error naming the
file (and the entry and field), exit 1, never a traceback, for every command that reads state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

STACK = "version: 1\nwebhooks:\n  h:\n    url: https://hooks.example.com/a\n    events: [task-status]\n"


def entry(**changed: object) -> bytes:
    good = {"kind": "webhooks", "remote_id": "wh-1", "key": ["https://hooks.example.com/a"], "digest": "",
            "extra": {}}  # fmt: skip
    return json.dumps({"format_version": 1, "resources": {"webhooks.h": {**good, **changed}}}).encode()


def entry_v2(**changed: object) -> bytes:
    good = {"kind": "webhooks", "remote_id": "wh-1", "key": ["https://hooks.example.com/a"], "digest": ""}
    return json.dumps({"format_version": 2, "resources": {"webhooks.h": {**good, **changed}}}).encode()


BAD_STATE = {
    "a list": (b"[]", "not a state file"),
    "a string": (b'"state"', "not a state file"),
    "resources a list": (b'{"format_version": 1, "resources": []}', "'resources' must be an object"),
    "entry a number": (
        b'{"format_version": 1, "resources": {"webhooks.h": 5}}',
        "an entry must be an object",
    ),
    "remote id an object": (entry(remote_id={"a": 1}), "entry 'webhooks.h': 'remote_id' must be a non-empty"),
    "key a string": (entry(key="abc"), "'key' must be a list of strings"),
    "extra a list": (entry(extra=[1]), "'extra' must be an object"),
    "deposed not ids": (entry(extra={"deposed": [{"x": 1}]}), "'extra.deposed' must be a list of remote ids"),
    "unknown kind": (entry(kind="nope"), "unknown kind 'nope'"),
    "address of another kind": (
        json.dumps(
            {"format_version": 1, "resources": {"cores.h": json.loads(entry())["resources"]["webhooks.h"]}}
        ).encode(),
        "the address must be 'webhooks.<name>'",
    ),
    "latin-1": (b'{"format_version": 1, "resources": {"webhooks.\xe9": {}}}', "can't decode byte 0xe9"),
    "100k deep": (b"[" * 100_000 + b"]" * 100_000, "values nested too deeply"),
    "100k deep inside": (
        b'{"format_version": 1, "resources": {"webhooks.h": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        "values nested too deeply",
    ),
    "future format": (b'{"format_version": 9, "resources": {}}', "unsupported state format 9"),
    "format 2, protection a string": (
        entry_v2(prevent_destroy="yes"),
        "entry 'webhooks.h': 'prevent_destroy' must",
    ),
    "format 2, a format 1 extra": (entry_v2(extra={}), "entry 'webhooks.h': unknown field 'extra'"),
    "format 2, a state field webhooks lack": (
        entry_v2(state_fields={"url": "x"}),
        "entry 'webhooks.h': 'state_fields.url' is not a state field",
    ),
}


@pytest.mark.parametrize("command", [["plan"], ["state", "list"], ["apply", "--auto-approve"]])
@pytest.mark.parametrize("case", sorted(BAD_STATE))
def test_a_bad_state_file_is_one_clear_error(tmp_path: Path, case: str, command: list[str]) -> None:
    content, message = BAD_STATE[case]
    (tmp_path / "stack.yaml").write_text(STACK, encoding="utf-8")
    state = tmp_path / ".reconciler" / "sandbox" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    result = CliRunner().invoke(main, [*command, "--sandbox", "-f", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "state.json" in lines[0], result.output
    assert message in lines[0], lines[0]
    assert state.read_bytes() == content  # left as it was, for the user to look at
