"""The apply journal (engine/journal.py): intent/result lines, and what a next run learns from them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from reconciler.engine.journal import Journal


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
    assert "did not finish: 1 call(s) completed, 1 in flight when it stopped." in text[0]
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
    found = Journal(path).previous()
    assert found is not None
    assert [r["address"] for r in found.unfinished] == ["cores.a"]


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
