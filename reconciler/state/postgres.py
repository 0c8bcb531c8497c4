"""State in PostgreSQL, shared by CI jobs: one row per (stack, address), one advisory lock per stack.

Chosen with ``state: {backend: postgres, dsn: "${env:RECONCILER_PG_DSN}", stack: prod}`` or
``RECONCILER_STATE_BACKEND=postgres``. Only this module imports psycopg, and it is imported only
when that backend is chosen, so every other command starts without it.

- The tables are created on first use (``CREATE TABLE IF NOT EXISTS`` under a transaction-level
  advisory lock, so two first runs do not race).
- ``record`` is one transaction, committed before it returns: a killed run loses nothing it
  recorded. An upsert or delete is idempotent, so it is retried once on a dropped connection.
- ``lock`` takes a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, held for the whole apply and retried until ``timeout``. The server drops it when that
  connection ends, so a killed process never leaves the stack locked. The holder writes its pid,
  host, purpose and start time to ``reconciler_locks``; a refused run reads who holds the lock from
  ``pg_locks`` joined to that row, so a dead holder's leftover row is never blamed.
- Fencing: while the lock is held, every ``record`` first checks, in its own transaction, that the
  lock's session still holds it (``pg_locks``); ``fence()`` checks the same before each action. If
  that connection dropped (server restart, ``pg_terminate_backend``, network), the server has freed
  the lock, so the run stops with LockLost instead of writing beside a new holder.
- The DSN is a secret. It never appears in ``description`` or in an error: psycopg's messages
  are scrubbed of the DSN and its password before they become ours, and are raised ``from None``
  so ``--debug`` tracebacks do not carry the original either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from reconciler.common.redact import excerpt, remember
from reconciler.common.words import seconds as seconds_text
from reconciler.errors import LockHeld, LockLost, StateError
from reconciler.state.base import StateEntry, StateSnapshot, entry_from_json
from reconciler.state.entry import BODY_FIELDS, FORMAT_VERSION, READABLE_VERSIONS
from reconciler.state.waiting import LockWait, LockWatcher, StateLock, utc_text, wait_hint

if TYPE_CHECKING:
    from reconciler.kinds import Kind

__all__ = ["PostgresStateStore", "create_tables", "scrub_dsn"]

T = TypeVar("T")

# First key of our two-key advisory locks ("RECO"); the second is hashtext(stack). Key (NS, 0)
# guards schema creation.
LOCK_NAMESPACE = 0x5245434F
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 10,
    "application_name": "reconciler",
    "keepalives": 1,
    "keepalives_idle": 30,
}

# psycopg's debug logs name hosts and connection attempts; keep them out of --debug output.
logging.getLogger("psycopg").setLevel(logging.WARNING)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS reconciler_state (
        stack text NOT NULL,
        address text NOT NULL,
        kind text NOT NULL,
        remote_id text NOT NULL,
        key jsonb NOT NULL,
        digest text NOT NULL,
        extra jsonb NOT NULL DEFAULT '{}'::jsonb,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stack, address))""",
    # State format 2 (docs/state-format.md): rows from before it have none and read as 1.
    "ALTER TABLE reconciler_state ADD COLUMN IF NOT EXISTS format_version smallint NOT NULL DEFAULT 1",
    """CREATE TABLE IF NOT EXISTS reconciler_locks (
        stack text PRIMARY KEY,
        pid integer NOT NULL,
        host text NOT NULL,
        purpose text NOT NULL,
        since timestamptz NOT NULL,
        backend_pid integer NOT NULL)""",
)
_UPSERT = f"""
INSERT INTO reconciler_state (stack, address, kind, remote_id, key, digest, extra, format_version, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, {FORMAT_VERSION}, now())
ON CONFLICT (stack, address) DO UPDATE SET kind = EXCLUDED.kind, remote_id = EXCLUDED.remote_id,
    key = EXCLUDED.key, digest = EXCLUDED.digest, extra = EXCLUDED.extra,
    format_version = EXCLUDED.format_version, updated_at = now()"""
# A format 1 row rewritten in format 2, unless someone changed it since it was read.
_MIGRATE = f"""
UPDATE reconciler_state SET extra = %(body)s, format_version = {FORMAT_VERSION}
WHERE stack = %(stack)s AND address = %(address)s AND format_version = 1 AND kind = %(kind)s
  AND extra = %(old)s"""
_HOLDER = """
SELECT p.pid, l.pid, l.host, l.purpose, l.since
FROM pg_locks p LEFT JOIN reconciler_locks l ON l.stack = %(stack)s AND l.backend_pid = p.pid
WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 2
  AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND p.classid::bigint = %(ns)s AND p.objid::bigint = (hashtext(%(stack)s)::bigint & 4294967295)
LIMIT 1"""
_STILL_HELD = """
SELECT EXISTS (SELECT 1 FROM pg_locks p
  WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 2 AND p.pid = %(backend)s
    AND p.classid::bigint = %(ns)s AND p.objid::bigint = (hashtext(%(stack)s)::bigint & 4294967295))"""


def _dsn_secrets(dsn: str) -> list[str]:
    """The strings to scrub: the DSN itself and its password (parsed, or found by pattern when the
    DSN does not even parse), longest first."""
    found = {dsn}
    with contextlib.suppress(psycopg.Error, ValueError):
        found.add(str(conninfo_to_dict(dsn).get("password") or ""))
    for match in re.finditer(r"://[^/@:]*:([^@/]*)@", dsn):
        found |= {match.group(1), unquote(match.group(1))}
    for match in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn):
        found |= {match.group(1), match.group(1).strip("'")}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub_dsn(text: str, dsn: str) -> str:
    """``text`` with the DSN and its password replaced by ``***``."""
    for secret in _dsn_secrets(dsn):
        text = text.replace(secret, "***")
    return text


def _where(dsn: str) -> str:
    """host:port/dbname for messages, never the user or password."""
    try:
        info = conninfo_to_dict(dsn)
    except (psycopg.Error, ValueError):
        return "(unparsable DSN)"
    host = info.get("host") or info.get("hostaddr") or "local socket"
    port = f":{info['port']}" if info.get("port") else ""
    return f"{host}{port}/{info.get('dbname') or '(default database)'}"


def create_tables(conn: psycopg.Connection[Any], namespace: int, statements: Sequence[str]) -> None:
    """Run ``statements`` (idempotent DDL) in one transaction under an advisory lock of
    ``namespace``, so processes starting at once do not race on CREATE; close ``conn`` on failure."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (namespace,))
            for statement in statements:
                conn.execute(statement)
    except psycopg.Error:
        conn.close()
        raise


class PostgresStateStore:
    backend = "postgres"

    def __init__(
        self, dsn: str, stack: str, *, wait: LockWait | None = None, kinds: Mapping[str, Kind] | None = None
    ) -> None:
        """``kinds``: the kinds an entry may be of, by name (default: the shipped registry)."""
        self._dsn = dsn
        self._kinds = kinds
        remember(_dsn_secrets(dsn))  # kept out of --debug logs
        self.stack = stack
        self.description = f"PostgreSQL state, stack {stack!r} on {_where(dsn)}"
        self._wait = wait or LockWait()
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()  # records run in worker threads; one connection, in turn
        self._lock_backend: int | None = None  # the PostgreSQL session holding our advisory lock
        # Format 1 rows the last read found (address -> kind, extra as read), for the next write
        # to rewrite in format 2.
        self._legacy: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    # --- connections and errors -------------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> StateError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StateError(f"{self.description}: {what}: {scrub_dsn(detail, self._dsn)}")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._dsn, autocommit=True, **CONNECT_OPTIONS)
        except (psycopg.Error, ValueError) as exc:
            raise self._error("cannot connect", exc) from None  # from None: psycopg's text may hold the DSN

    def _data_conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            try:
                create_tables(conn, LOCK_NAMESPACE, _SCHEMA)
            except psycopg.Error as exc:
                raise self._error("cannot create the state tables", exc) from None
            self._conn = conn
        return self._conn

    def _in_transaction(self, what: str, fn: Callable[[psycopg.Connection[Any]], T], *, retry: bool) -> T:
        with self._conn_lock:
            for attempt in range(2):
                conn = self._data_conn()
                try:
                    with conn.transaction():
                        return fn(conn)
                except psycopg.OperationalError as exc:
                    self._drop_conn()
                    if not retry or attempt:
                        raise self._error(what, exc) from None
                except psycopg.Error as exc:
                    raise self._error(what, exc) from None
        raise AssertionError("unreachable")

    def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._conn_lock:
            self._drop_conn()

    # --- the StateStore protocol ------------------------------------------------------------

    def read(self) -> StateSnapshot:
        def query(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT address, kind, remote_id, key, digest, extra, format_version FROM reconciler_state "
                "WHERE stack = %s",
                (self.stack,),
            ).fetchall()

        rows = self._in_transaction("cannot read state", query, retry=True)
        where = f"cannot read state of stack {self.stack!r}"
        entries: dict[str, StateEntry] = {}
        legacy: dict[str, tuple[str, Any, dict[str, Any]]] = {}
        for address, kind, rid, key, dig, extra, version in rows:
            # Checked as a state file's entries are: a row written by hand is refused, naming it.
            if version not in READABLE_VERSIONS:
                raise StateError(f"{where}: entry {address!r}: unsupported state format {version!r}")
            raw = {"kind": kind, "remote_id": rid, "key": key, "digest": dig}
            if version == 1:
                raw["extra"] = extra
            elif isinstance(extra, dict) and extra.keys() <= set(BODY_FIELDS):
                raw.update(extra)
            else:
                raise StateError(
                    f"{where}: entry {address!r}: 'extra' must be an object of {', '.join(BODY_FIELDS)}"
                )
            entries[address] = entry = entry_from_json(address, raw, version, where, self._kinds)
            if version == 1:
                legacy[address] = (kind, extra, entry.body())
        self._legacy = legacy
        return StateSnapshot(entries)

    async def record(self, address: str, entry: StateEntry | None) -> None:
        await asyncio.to_thread(self._record, address, entry)

    def _record(self, address: str, entry: StateEntry | None) -> None:
        if entry is None:
            sql = "DELETE FROM reconciler_state WHERE stack = %s AND address = %s"
            params: tuple[Any, ...] = (self.stack, address)
        else:
            sql = _UPSERT
            params = (self.stack, address, entry.kind, entry.remote_id, Jsonb(list(entry.key)),
                      entry.digest, Jsonb(entry.body()))  # fmt: skip
        legacy, self._legacy = self._legacy, {}

        def write(conn: psycopg.Connection[Any]) -> None:
            self._check_held(conn)
            self._migrate(conn, legacy)
            conn.execute(sql, params)

        try:
            self._in_transaction(f"cannot record {address}", write, retry=True)
        except StateError:
            self._legacy = legacy or self._legacy
            raise

    def _migrate(
        self, conn: psycopg.Connection[Any], legacy: Mapping[str, tuple[str, Any, dict[str, Any]]]
    ) -> None:
        """Rewrite in format 2 the format 1 rows the last read found, with the first write after it."""
        for address, (kind, old, body) in legacy.items():
            conn.execute(
                _MIGRATE, {"body": Jsonb(body), "stack": self.stack, "address": address, "kind": kind,
                           "old": Jsonb(old)},
            )  # fmt: skip

    async def fence(self) -> None:
        """Raise LockLost if this store took the lock and its session no longer holds it."""
        if self._lock_backend is not None:
            await asyncio.to_thread(
                self._in_transaction, "cannot check the state lock", self._check_held, retry=True
            )

    def _check_held(self, conn: psycopg.Connection[Any]) -> None:
        backend = self._lock_backend
        if backend is None:
            return
        params = {"backend": backend, "ns": LOCK_NAMESPACE, "stack": self.stack}
        row = conn.execute(_STILL_HELD, params).fetchone()
        if not (row and row[0]):
            raise LockLost(
                f"lost the state lock: the PostgreSQL session that held it (backend pid {backend}) has "
                f"ended; stopped before the next state write ({self.description})"
            )

    def lock(self, purpose: str, *, timeout: float = 0.0, watcher: LockWatcher | None = None) -> StateLock:
        """The stack's advisory lock, on a connection of its own, held for an ``async with`` block;
        waits up to ``timeout`` seconds for another holder, telling ``watcher`` who it is."""
        conns: list[psycopg.Connection[Any]] = []  # the lock's own connection, once made

        def take() -> str | None:
            if not conns:
                with self._conn_lock:
                    self._data_conn()  # the tables exist before anyone looks for a holder
                conns.append(self._connect())
            try:
                if not self._try_lock(conns[0]):
                    return self._holder(conns[0]) or "a run that has just let go"
                self._record_holder(conns[0], purpose)
            except psycopg.Error as exc:
                drop()
                raise self._error("cannot take the state lock", exc) from None
            except BaseException:
                drop()
                raise
            self._lock_backend = conns[0].info.backend_pid
            return None

        def drop() -> None:
            if conns:
                conns.pop().close()

        def release() -> None:
            self._lock_backend = None
            if not conns:
                return
            with contextlib.suppress(psycopg.Error):
                conns[0].execute(
                    "DELETE FROM reconciler_locks WHERE stack = %s AND backend_pid = pg_backend_pid()",
                    (self.stack,),
                )
                conns[0].execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_NAMESPACE, self.stack))
            drop()

        def refused() -> BaseException:
            try:
                return LockHeld(self._held_message(conns[0], timeout))
            except psycopg.Error as exc:
                return self._error("cannot take the state lock", exc)
            finally:
                drop()

        return StateLock(self._wait, take, release, refused, timeout=timeout, watcher=watcher)

    def _try_lock(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, self.stack)
        ).fetchone()
        return bool(row and row[0])

    def _record_holder(self, conn: psycopg.Connection[Any], purpose: str) -> None:
        conn.execute(
            "INSERT INTO reconciler_locks (stack, pid, host, purpose, since, backend_pid) "
            "VALUES (%s, %s, %s, %s, now(), pg_backend_pid()) ON CONFLICT (stack) DO UPDATE SET "
            "pid = EXCLUDED.pid, host = EXCLUDED.host, purpose = EXCLUDED.purpose, "
            "since = EXCLUDED.since, backend_pid = EXCLUDED.backend_pid",
            (self.stack, os.getpid(), socket.gethostname(), purpose),
        )

    def _holder(self, conn: psycopg.Connection[Any]) -> str | None:
        """Who holds the stack's lock, in words; None when nobody does (it was just let go)."""
        row = conn.execute(_HOLDER, {"stack": self.stack, "ns": LOCK_NAMESPACE}).fetchone()
        if row is None:
            return None
        backend_pid, pid, host, purpose, since = row
        if pid is None:
            return f"PostgreSQL session {backend_pid}, which has not said who it is"
        when = utc_text(since.timestamp()) if isinstance(since, datetime) else excerpt(str(since), limit=40)
        return (
            f"pid {pid} on {excerpt(str(host), limit=100)} ({excerpt(str(purpose), limit=60)}, since {when})"
        )

    def _held_message(self, conn: psycopg.Connection[Any], timeout: float) -> str:
        waited = f"; waited {seconds_text(timeout)}" if timeout > 0 else ""
        holder = self._holder(conn)
        if holder is None:
            return f"could not take the state lock ({self.description}): its holder just let go{waited}"
        return f"state is locked by {holder}{waited}; {self.description}{wait_hint(timeout)}"
