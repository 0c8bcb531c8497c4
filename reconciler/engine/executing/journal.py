"""The apply journal: intent → call → result, one JSON line each, the intent written before the call.

State says what is known to be done. The journal says what was *being* done: if a process
is killed between a call and its state write, the next apply finds an ``intent`` with no
``result`` and says so. Recovery itself needs nothing from the journal: a create that landed
is found again by its natural key and adopted, an update is re-diffed, a delete that landed
is simply gone. The journal is how the user (and the tests) learn what was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.common.words import plural
from reconciler.errors import StateError

__all__ = ["Interrupted", "Journal", "key_digest"]


def key_digest(key: tuple[str, ...]) -> str:
    """A natural key as the journal records it: a digest, since a key (a webhook URL) may hold a secret."""
    return "sha256:" + hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()


@dataclass(frozen=True)
class Interrupted:
    """The previous run, when it did not finish."""

    run: str
    pid: int | None
    started: float
    unfinished: list[dict[str, Any]]  # intents without a result
    finished: int  # results recorded

    def describe(self) -> list[str]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        lines = [
            f"The previous apply (pid {self.pid}, started {when}) did not finish: "
            f"{plural(self.finished, 'call')} completed, {len(self.unfinished)} in flight when it stopped."
        ]
        for rec in self.unfinished:
            lines.append(
                f"  {rec['address']}: {rec['action']} may or may not have happened; "
                "this run checks live state (by natural key) before acting."
            )
        return lines


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = ""
        self._fh: Any = None
        self._in_flight: set[str] = set()  # intents of this run without a result yet

    def previous(self) -> Interrupted | None:
        """What the last run left unfinished: it did not end, or ended with calls in flight."""
        if not self.path.exists() or self._ended_cleanly():
            return None
        intents: dict[str, dict[str, Any]] = {}
        header: dict[str, Any] = {}
        finished = 0
        ended = False
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                rec = self._parse(number, line)
                if rec is None:
                    continue  # a torn last line from a kill mid-write
                event = rec.get("event")
                if event == "run":
                    header = rec
                elif event == "intent":
                    intents[rec["id"]] = rec
                elif event == "result":
                    intents.pop(rec["id"], None)
                    finished += 1
                elif event == "end":
                    ended = True
        # An ``end`` with calls still in flight is a run whose calls were cancelled (Ctrl-C): each
        # may or may not have happened, so it is reported like a kill.
        if not header or (ended and not intents):
            return None
        return Interrupted(
            header.get("run", "?"), header.get("pid"), header.get("at", 0.0), list(intents.values()), finished
        )

    def _ended_cleanly(self) -> bool:
        """The last line is an ``end`` with nothing in flight: the usual case, told from the
        file's tail alone, so a plan does not read a 20,000-line journal to learn nothing."""
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - _TAIL_BYTES))
                tail = fh.read()
        except OSError:
            return False  # the full read says what is wrong
        lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
        try:
            rec = json.loads(lines[-1])
        except (ValueError, RecursionError):
            return False
        return isinstance(rec, dict) and rec.get("event") == "end" and rec.get("in_flight") == 0

    def _parse(self, number: int, line: bytes) -> dict[str, Any] | None:
        """One record, checked; None for a line torn by a kill; StateError for anything else wrong."""
        try:
            rec = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise self._bad(number, f"not UTF-8 text (byte {exc.start})") from exc
        except RecursionError as exc:
            raise self._bad(number, "values nested too deeply") from exc
        except ValueError:
            return None
        problem = _problem(rec)
        if problem:
            raise self._bad(number, problem)
        return rec

    def _bad(self, number: int, problem: str) -> StateError:
        return StateError(
            f"{self.path}:{number}: {problem}: not a journal this tool wrote; move it away to go on "
            "(it only records what an interrupted apply left in flight)"
        )

    def begin(self) -> None:
        self.run = uuid.uuid4().hex[:12]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")  # the previous run's record is read first
        except OSError as exc:
            raise StateError(
                f"cannot write the apply journal {self.path}: {exc.strerror or exc}; nothing was applied"
            ) from exc
        self._write(
            {
                "event": "run",
                "run": self.run,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "at": time.time(),
            }
        )

    async def intent(
        self,
        address: str,
        action: str,
        remote_id: str | None,
        kind: str | None = None,
        key: tuple[str, ...] | None = None,
    ) -> str:
        """Record a call about to be made, before it is made.

        The line is handed to the OS before the call, so a killed process never loses it; it is not
        fsynced per call (that wait was a quarter of an apply's time). After an OS crash the last
        intents may be missing: the next plan still finds what those calls created by natural key
        and adopts it, as after any lost response. State itself stays durable per record.

        A create gives its ``kind`` and natural ``key`` (recorded as a digest): if its outcome is
        never recorded, the next run finds the object by that key even when the YAML no longer
        declares it (engine/executing/pending.py)."""
        call_id = uuid.uuid4().hex[:12]
        self._in_flight.add(call_id)
        await self._append(
            {
                "event": "intent",
                "id": call_id,
                "address": address,
                "action": action,
                "remote_id": remote_id,
                **({"kind": kind, "key": key_digest(key)} if kind is not None and key is not None else {}),
                "at": time.time(),
            }
        )
        return call_id

    async def result(
        self, call_id: str, address: str, outcome: str, remote_id: str | None, error: str | None = None
    ) -> None:
        """Record how a call ended. Not waited on to be durable: state (written before) is the
        record of what was done; a result lost in a crash only makes the next run look again."""
        self._in_flight.discard(call_id)
        await self._append(
            {
                "event": "result",
                "id": call_id,
                "address": address,
                "outcome": outcome,
                "remote_id": remote_id,
                "error": error,
                "at": time.time(),
            }
        )

    def end(self) -> None:
        """The last line: ``in_flight`` counts calls cancelled before their result (Ctrl-C); a
        later run reads only this line when it is 0."""
        self._write({"event": "end", "at": time.time(), "in_flight": len(self._in_flight)})
        self._fh.close()
        self._fh = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    async def _append(self, record: dict[str, Any]) -> None:
        """Write a line through to the OS (not fsynced: see ``intent``)."""
        if self._fh is None:
            return
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()


_TAIL_BYTES = 4096  # more than one ``end`` line

_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "run": {"run": (str,), "pid": (int, type(None)), "at": (int, float)},
    "intent": {"id": (str,), "address": (str,), "action": (str,), "remote_id": (str, type(None))},
    "result": {"id": (str,)},
    "end": {},
}


def _problem(rec: Any) -> str | None:
    """What is wrong with a parsed journal line, if anything."""
    if not isinstance(rec, dict):
        return f"a record must be an object, not {type(rec).__name__}"
    fields = _FIELDS.get(rec.get("event"))  # type: ignore[arg-type]
    if fields is None:
        return f"unknown event {rec.get('event')!r}"
    for name, types in fields.items():
        if not isinstance(rec.get(name), types) or isinstance(rec.get(name), bool):
            return f"{rec['event']} record: {name!r} is missing or of the wrong type"
    at = rec.get("at", 0)
    if not isinstance(at, int | float) or not 0 <= at < 1e11:
        return f"{rec['event']} record: 'at' is not a time"
    for name in ("kind", "key"):
        if name in rec and not isinstance(rec[name], str):
            return f"{rec['event']} record: {name!r} must be a string"
    return None
