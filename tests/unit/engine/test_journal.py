"""The apply journal (engine/executing/journal.py): intent/result lines, and what a next run learns
from them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.engine.executing.journal import Journal
from reconciler.errors import StateError


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _interrupted_run(path: Path) -> None:
    """A run killed after one finished call and one call in flight: no ``end`` line."""
    journal = Journal(path)
    journal.begin()
    first = await journal.intent("cores.a", "create", None)
    await journal.result(first, "cores.a", "done", "cor_1")
    await journal.intent("cores.b", "delete", "cor_2")
    journal._fh.close()  # the process dies: nothing more is written


def test_no_journal_means_nothing_to_report(tmp_path: Path) -> None:
    assert Journal(tmp_path / "journal.jsonl").previous() is None


def test_a_run_writes_header_intents_results_and_end(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "journal.jsonl"

    async def run() -> None:
        journal = Journal(path)
        journal.begin()
        call = await journal.intent("cores.a", "create", None)
        await journal.result(call, "cores.a", "failed", None, "boom")
        journal.end()

    asyncio.run(run())
    recs = lines(path)
    assert [r["event"] for r in recs] == ["run", "intent", "result", "end"]
    assert recs[0]["pid"] == os.getpid()
    assert recs[1]["id"] == recs[2]["id"] and recs[1]["address"] == "cores.a"
    assert (recs[2]["outcome"], recs[2]["error"]) == ("failed", "boom")
    assert recs[3]["in_flight"] == 0  # what lets the next run read only this line
    assert Journal(path).previous() is None  # it ended


def test_an_interrupted_run_is_reported_with_what_was_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    asyncio.run(_interrupted_run(path))
    found = Journal(path).previous()
    assert found is not None
    assert (found.pid, found.finished) == (os.getpid(), 1)
    assert [(r["address"], r["action"], r["remote_id"]) for r in found.unfinished] == [
        ("cores.b", "delete", "cor_2")
    ]
    text = found.describe()
    assert text[0].startswith(f"The previous apply (pid {os.getpid()}, started ")
    assert "did not finish: 1 call completed, 1 in flight when it stopped." in text[0]
    assert text[1] == (
        "  cores.b: delete may or may not have happened; this run checks live state (by natural key) "
        "before acting."
    )


def test_a_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    asyncio.run(_interrupted_run(path))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"event":"result","id":"')  # killed in the middle of a write
    found = Journal(path).previous()
    assert found is not None and len(found.unfinished) == 1 and found.finished == 1


def test_a_run_killed_before_its_header_is_durable_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"event":"ru', encoding="utf-8")
    assert Journal(path).previous() is None


def test_the_next_run_starts_a_fresh_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    asyncio.run(_interrupted_run(path))
    journal = Journal(path)
    assert journal.previous() is not None  # read before begin() truncates it
    journal.begin()
    journal.end()
    assert [r["event"] for r in lines(path)] == ["run", "end"]
    assert Journal(path).previous() is None


def test_a_run_that_ended_with_calls_in_flight_is_reported(tmp_path: Path) -> None:
    """Ctrl-C cancels the calls, and apply's ``finally`` still writes ``end``: the calls in flight
    may or may not have happened, so the next run must still say so."""
    path = tmp_path / "journal.jsonl"

    async def run() -> None:
        journal = Journal(path)
        journal.begin()
        await journal.intent("cores.a", "create", None)
        journal.end()

    asyncio.run(run())
    assert lines(path)[-1]["in_flight"] == 1
    found = Journal(path).previous()
    assert found is not None
    assert [r["address"] for r in found.unfinished] == ["cores.a"]


def test_a_journal_ending_in_an_older_end_line_is_read_whole(tmp_path: Path) -> None:
    """An ``end`` without ``in_flight`` (written before it was counted) says nothing about the
    calls: the whole journal is read, and a call left in flight is still reported."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(
        HEADER
        + b'{"event":"intent","id":"i","address":"cores.a","action":"create","remote_id":null,"at":2}\n'
        + b'{"event":"end","at":3}\n'
    )
    found = Journal(path).previous()
    assert found is not None and [r["address"] for r in found.unfinished] == ["cores.a"]


def test_concurrent_lines_are_all_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"

    async def run() -> None:
        journal = Journal(path)
        journal.begin()
        calls = await asyncio.gather(*(journal.intent(f"cores.c{i}", "create", None) for i in range(20)))
        await asyncio.gather(*(journal.result(c, "x", "done", None) for c in calls))
        journal.end()

    asyncio.run(run())
    recs = lines(path)
    assert len(recs) == 42
    intents = {r["id"] for r in recs if r["event"] == "intent"}
    assert intents == {r["id"] for r in recs if r["event"] == "result"}


HEADER = b'{"event":"run","run":"r","pid":7,"at":1}\n'
BAD_JOURNALS = {
    "a list": (b"[1, 2]\n", 1, "a record must be an object, not list"),
    "unknown event": (b'{"event":"boom"}\n', 1, "unknown event 'boom'"),
    "pid a string": (
        b'{"event":"run","run":"r","pid":"abc","at":1}\n',
        1,
        "'pid' is missing or of the wrong type",
    ),
    "intent without id": (HEADER + b'{"event":"intent"}\n', 2, "intent record: 'id' is missing"),
    "id a list": (HEADER + b'{"event":"intent","id":[1],"address":"a.b","action":"create"}\n', 2, "'id'"),
    "time out of range": (b'{"event":"run","run":"r","pid":7,"at":1e400}\n', 1, "'at' is not a time"),
    "key not a digest": (
        HEADER
        + b'{"event":"intent","id":"i","address":"a.b","action":"create","remote_id":null,"key":[1]}\n',
        2,
        "'key' must be a string",
    ),
    "latin-1": (HEADER + b'{"event":"intent","address":"caf\xe9"}\n', 2, "not UTF-8 text"),
    "100k deep": (HEADER + b"[" * 100_000 + b"]" * 100_000 + b"\n", 2, "values nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_JOURNALS))
def test_a_journal_of_the_wrong_shape_is_one_clear_error(tmp_path: Path, case: str) -> None:
    """Issue 18.9: never a traceback; the error names the file and line, and says how to go on."""
    content, line, message = BAD_JOURNALS[case]
    path = tmp_path / "journal.jsonl"
    path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        Journal(path).previous()
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}: ") and message in text, text
    assert "move it away to go on" in text


def test_a_bad_journal_stops_plan_and_apply_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\n", encoding="utf-8")
    journal = tmp_path / ".reconciler" / "sandbox" / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = CliRunner().invoke(main, [*command, "--sandbox", "-f", str(tmp_path)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.stderr.startswith(f"Error: {journal}:1: values nested too deeply"), result.stderr
