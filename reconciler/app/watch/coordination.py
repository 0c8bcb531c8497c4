"""Several ``watch`` replicas sharing the stacks through PostgreSQL (the state backend's database).

- ``reconciler_watch_stacks``: one row per stack: when it is due, failures in a row, who holds it,
  its latest result (so every replica's page and API show every stack).
- Claiming: in one transaction, the due rows are selected ``FOR UPDATE SKIP LOCKED`` (replicas
  claiming at once never wait on, or take, the same rows), and each is taken only if this
  replica gets its session-level advisory lock (``pg_try_advisory_lock``), held on this replica's
  connection until the check is done. Finishing writes the next due time (from the claim's
  time, so the cadence does not drift) and commits **before** letting go of the lock: a stack is
  never due and unlocked while a check of it is running, so no stack is checked twice.
- A replica that dies (``kill -9``, OOM) drops its connection; PostgreSQL frees its locks at once
  and its stacks, still due, go to the next replica that claims (within a tick). A partitioned
  replica's connection ends when TCP keepalives give up (``keepalives_*`` below, ~20 s), and its
  own applies stop at the next state write: each holds the stack's state lock, fenced on every
  write (``state/postgres.py``), so no apply ever runs twice at once.
- ``reconciler_watch_events``: each stack's history (``history.py``), at most ``KEEP`` per stack.

The DSN never appears in a message (``scrub_dsn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from reconciler.app.watch.history import KEEP, Event
from reconciler.app.watch.schedule import Claim, next_delay
from reconciler.errors import StateError
from reconciler.state.postgres import create_tables, scrub_dsn

__all__ = ["PostgresHistory", "PostgresSchedule"]

T = TypeVar("T")
CLAIM_NAMESPACE = 0x52454357  # "RECW": the state locks use "RECO"
CONNECT: dict[str, Any] = {
    "connect_timeout": 10,
    "application_name": "reconciler-watch",
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS reconciler_watch_stacks (
        stack text PRIMARY KEY,
        due_at timestamptz NOT NULL DEFAULT now(),
        failures integer NOT NULL DEFAULT 0,
        owner text,
        claimed_at timestamptz,
        checks bigint NOT NULL DEFAULT 0,
        last_result jsonb)""",
    """CREATE TABLE IF NOT EXISTS reconciler_watch_events (
        id bigserial PRIMARY KEY,
        stack text NOT NULL,
        body jsonb NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS reconciler_watch_events_stack ON reconciler_watch_events (stack, id)",
)


class _Connection:
    """One psycopg connection used from worker threads in turn; errors scrubbed of the DSN."""

    def __init__(self, dsn: str, what: str) -> None:
        self._dsn = dsn
        self._what = what
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self.on_reconnect: Callable[[], None] = lambda: None

    def _error(self, doing: str, exc: BaseException) -> StateError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StateError(f"watch coordination ({self._what}): {doing}: {scrub_dsn(detail, self._dsn)}")

    def _connected(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self.on_reconnect()
            try:
                conn = psycopg.connect(self._dsn, autocommit=True, **CONNECT)
            except (psycopg.Error, ValueError) as exc:
                raise self._error("cannot connect", exc) from None
            try:
                create_tables(conn, CLAIM_NAMESPACE, _SCHEMA)
            except psycopg.Error as exc:
                raise self._error("cannot create the watch tables", exc) from None
            self._conn = conn
        return self._conn

    def run(self, doing: str, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        with self._lock:
            conn = self._connected()
            try:
                return fn(conn)
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError):
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                    self._conn = None
                raise self._error(doing, exc) from None

    async def call(self, doing: str, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        return await asyncio.to_thread(self.run, doing, fn)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
            self._conn = None


class PostgresSchedule:
    """The schedule (``schedule.Schedule``) in PostgreSQL, shared by every replica."""

    def __init__(self, dsn: str, replica: str, *, rng: random.Random | None = None) -> None:
        self.replica = replica
        self._rng = rng or random.Random()
        self._locks = _Connection(dsn, "claims")  # holds this replica's advisory locks
        self._locks.on_reconnect = self._lost_claims
        self._data = _Connection(dsn, "results")
        self._known: list[str] = []
        self._held: set[str] = set()

    def _lost_claims(self) -> None:
        self._held.clear()  # a new connection holds none of the old one's locks

    async def register(self, stacks: Sequence[str]) -> None:
        self._known = list(stacks)

        def insert(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                "INSERT INTO reconciler_watch_stacks (stack) SELECT unnest(%s::text[]) "
                "ON CONFLICT DO NOTHING",
                (list(stacks),),
            )

        await self._data.call("cannot register the stacks", insert)

    async def claim(self, limit: int) -> list[Claim]:
        if limit <= 0 or not self._known:
            return []

        def take(conn: psycopg.Connection[Any]) -> list[Claim]:
            claims = []
            with conn.transaction():
                rows = conn.execute(
                    "SELECT stack, failures FROM reconciler_watch_stacks WHERE stack = ANY(%s) "
                    "AND due_at <= now() ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED",
                    (self._known, limit),
                ).fetchall()
                for stack, failures in rows:
                    if stack in self._held:
                        continue
                    got = conn.execute(
                        "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (CLAIM_NAMESPACE, stack)
                    ).fetchone()
                    if got and got[0]:
                        conn.execute(
                            "UPDATE reconciler_watch_stacks SET owner = %s, claimed_at = now() "
                            "WHERE stack = %s",
                            (self.replica, stack),
                        )
                        self._held.add(stack)
                        claims.append(Claim(stack, int(failures)))
            return claims

        return await self._locks.call("cannot claim stacks", take)

    async def finish(self, stack: str, *, interval_s: float, failed: bool, result: Mapping[str, Any]) -> None:
        def done(conn: psycopg.Connection[Any]) -> None:
            if stack not in self._held:
                return  # the claim was lost with its connection: another replica may hold it now
            with conn.transaction():
                row = conn.execute(
                    "SELECT failures FROM reconciler_watch_stacks WHERE stack = %s FOR UPDATE", (stack,)
                ).fetchone()
                failures = (int(row[0]) + 1 if failed else 0) if row else 0
                delay = next_delay(interval_s, failures, self._rng)
                conn.execute(
                    "UPDATE reconciler_watch_stacks SET due_at = claimed_at + make_interval(secs => %s), "
                    "failures = %s, owner = NULL, checks = checks + 1, last_result = %s WHERE stack = %s",
                    (delay, failures, Jsonb(dict(result)), stack),
                )
            self._unlock(conn, stack)

        await self._locks.call("cannot record a check", done)

    async def release(self, stack: str) -> None:
        def let_go(conn: psycopg.Connection[Any]) -> None:
            if stack in self._held:
                conn.execute("UPDATE reconciler_watch_stacks SET owner = NULL WHERE stack = %s", (stack,))
                self._unlock(conn, stack)

        await self._locks.call("cannot release a stack", let_go)

    def _unlock(self, conn: psycopg.Connection[Any], stack: str) -> None:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (CLAIM_NAMESPACE, stack))
        self._held.discard(stack)

    async def results(self) -> dict[str, dict[str, Any]]:
        def read(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
            rows = conn.execute(
                "SELECT stack, last_result FROM reconciler_watch_stacks "
                "WHERE stack = ANY(%s) AND last_result IS NOT NULL",
                (self._known,),
            ).fetchall()
            return {stack: result for stack, result in rows if isinstance(result, dict)}

        return await self._data.call("cannot read the results", read)

    async def ready(self) -> str | None:
        await self._data.call("cannot reach the database", lambda conn: conn.execute("SELECT 1").fetchone())
        return None

    async def aclose(self) -> None:
        self._locks.close()  # frees any lock still held
        self._data.close()


class PostgresHistory:
    """Each stack's events (``history.HistoryStore``) in ``reconciler_watch_events``."""

    def __init__(self, dsn: str) -> None:
        self._conn = _Connection(dsn, "history")

    async def recent(self, stack: str, folder: Path) -> list[Event]:
        def read(conn: psycopg.Connection[Any]) -> list[Any]:
            return conn.execute(
                "SELECT body FROM reconciler_watch_events WHERE stack = %s ORDER BY id DESC LIMIT %s",
                (stack, KEEP),
            ).fetchall()

        rows = await self._conn.call("cannot read the history", read)
        try:
            return [Event.from_json(body) for (body,) in reversed(rows)]
        except ValueError as exc:
            raise StateError(f"watch history of {stack!r}: an event of the wrong shape ({exc})") from None

    async def append(self, stack: str, folder: Path, events: Sequence[Event]) -> None:
        if not events:
            return

        def write(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                for event in events:
                    conn.execute(
                        "INSERT INTO reconciler_watch_events (stack, body) VALUES (%s, %s)",
                        (stack, Jsonb(event.to_json())),
                    )
                conn.execute(
                    "DELETE FROM reconciler_watch_events WHERE stack = %s AND id <= (SELECT id FROM "
                    "reconciler_watch_events WHERE stack = %s ORDER BY id DESC OFFSET %s LIMIT 1)",
                    (stack, stack, KEEP),
                )

        await self._conn.call("cannot record the history", write)

    def close(self) -> None:
        self._conn.close()
