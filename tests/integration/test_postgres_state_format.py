"""State format 2 in PostgreSQL (docs/state-format.md): rows written before it (format 1, a table
without ``format_version``) are read, migrated, and rewritten in format 2 by the next write.

The format 1 table and rows are made as main at 70e12a9 made them: its ``CREATE TABLE`` verbatim,
and one row per entry of the real format 1 state file ``tests/fixtures/state_v1`` (see
``tests/unit/state/test_state_format.py`` for how that file was produced), inserted with the
values that version's ``record`` wrote: ``key`` and ``extra`` as JSON, as they are in the file.
Each test works in a schema of its own (``search_path``), so the old table is really the old one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from reconciler.errors import StateError
from reconciler.state import LocalStateStore
from reconciler.state.postgres import PostgresStateStore
from tests.support.postgres import postgres_dsn

STATE_V1 = Path(__file__).parents[1] / "fixtures" / "state_v1" / "sandbox" / "state.json"
# reconciler/state/postgres.py at 70e12a9 (state format 1).
OLD_TABLE = """CREATE TABLE IF NOT EXISTS reconciler_state (
        stack text NOT NULL,
        address text NOT NULL,
        kind text NOT NULL,
        remote_id text NOT NULL,
        key jsonb NOT NULL,
        digest text NOT NULL,
        extra jsonb NOT NULL DEFAULT '{}'::jsonb,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stack, address))"""
OLD_INSERT = (
    "INSERT INTO reconciler_state (stack, address, kind, remote_id, key, digest, extra, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, now())"
)

NEW_INSERT = (
    "INSERT INTO reconciler_state (stack, address, kind, remote_id, key, digest, extra, format_version)"
)


@pytest.fixture
def schema_dsn() -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    """A DSN whose tables live in a fresh schema holding the format 1 table, and a connection to it."""
    dsn, schema = postgres_dsn(), f"v1_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            scoped = psycopg.conninfo.make_conninfo(dsn, options=f"-csearch_path={schema}")
            with psycopg.connect(scoped, autocommit=True) as conn:
                conn.execute(OLD_TABLE)
                yield scoped, conn
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def old_rows(conn: psycopg.Connection[Any], stack: str) -> dict[str, Any]:
    resources = json.loads(STATE_V1.read_text())["resources"]
    for address, e in resources.items():
        conn.execute(OLD_INSERT, (stack, address, e["kind"], e["remote_id"], Jsonb(e["key"]), e["digest"],
                                  Jsonb(e["extra"])))  # fmt: skip
    return dict(resources)


def versions(conn: psycopg.Connection[Any], stack: str) -> dict[str, int]:
    rows = conn.execute("SELECT address, format_version FROM reconciler_state WHERE stack = %s", (stack,))
    return dict(rows.fetchall())


def test_format_1_rows_read_as_the_file_does_and_the_next_write_migrates_them(
    schema_dsn: tuple[str, psycopg.Connection[Any]],
) -> None:
    dsn, conn = schema_dsn
    old = old_rows(conn, "prod")
    store = PostgresStateStore(dsn, "prod")
    try:
        read = store.read().entries
        assert dict(read) == dict(LocalStateStore(STATE_V1).read().entries)
        assert read["cores.fast-athens"].prevent_destroy is True
        assert set(read["sequences.hello-counter"].state_fields) == {"package_digest"}
        assert read["package_instances.summarizer"].provider_data["init_status"] == "complete"
        assert set(versions(conn, "prod").values()) == {1}  # reading writes nothing

        webhook = replace(read["webhooks.ci-notify"], digest="sha256:new")
        asyncio.run(store.record("webhooks.ci-notify", webhook))

        assert set(versions(conn, "prod").values()) == {2}
        bodies = dict(
            conn.execute("SELECT address, extra FROM reconciler_state WHERE stack = 'prod'").fetchall()
        )
        assert bodies["cores.fast-athens"] == read["cores.fast-athens"].body()
        assert bodies["sequences.hello-counter"]["state_fields"] == {
            "package_digest": old["sequences.hello-counter"]["extra"]["package_digest"]
        }
        again = PostgresStateStore(dsn, "prod")
        try:
            assert dict(again.read().entries) == {**read, "webhooks.ci-notify": webhook}
        finally:
            again.close()
    finally:
        store.close()


def test_a_format_1_row_changed_after_the_read_is_not_overwritten_by_the_migration(
    schema_dsn: tuple[str, psycopg.Connection[Any]],
) -> None:
    dsn, conn = schema_dsn
    old_rows(conn, "prod")
    store = PostgresStateStore(dsn, "prod")
    try:
        read = store.read().entries
        # An older reconciler records the core again meanwhile (format 1: protection dropped).
        conn.execute(
            "UPDATE reconciler_state SET extra = %s WHERE stack = 'prod' AND address = 'cores.fast-athens'",
            (Jsonb({"applied_fields": {}}),),
        )
        asyncio.run(store.record("webhooks.ci-notify", read["webhooks.ci-notify"]))
        assert versions(conn, "prod")["cores.fast-athens"] == 1
        core = store.read().entries["cores.fast-athens"]
        assert core.prevent_destroy is False  # what that reconciler wrote, not our stale migration
        asyncio.run(store.record("webhooks.ci-notify", read["webhooks.ci-notify"]))
        assert set(versions(conn, "prod").values()) == {2}
    finally:
        store.close()


BAD_V2_ROWS = {
    "a format 1 key in a format 2 row": (
        {"package_digest": "x"},
        "'extra' must be an object of prevent_destroy",
    ),
    "a list": ([1], "'extra' must be an object of"),
    "protection a number": ({"prevent_destroy": 1}, "'prevent_destroy' must be true or false"),
    "a field sequences do not keep": (
        {"state_fields": {"hub": "h"}},
        "'state_fields.hub' is not a state field",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_V2_ROWS))
def test_a_bad_format_2_row_names_the_stack_entry_and_field(
    schema_dsn: tuple[str, psycopg.Connection[Any]], case: str
) -> None:
    dsn, conn = schema_dsn
    body, message = BAD_V2_ROWS[case]
    store = PostgresStateStore(dsn, "prod")
    try:
        store.read()  # adds the format_version column
        conn.execute(
            f"{NEW_INSERT} VALUES ('prod', 'sequences.s', 'sequences', 'hub/1', %s, '', %s, 2)",
            (Jsonb(["hub", "s"]), Jsonb(body)),
        )
        with pytest.raises(StateError) as caught:
            store.read()
        text = str(caught.value)
        assert "stack 'prod'" in text and "entry 'sequences.s'" in text and message in text, text
    finally:
        store.close()


def test_a_row_of_a_future_format_is_refused(schema_dsn: tuple[str, psycopg.Connection[Any]]) -> None:
    dsn, conn = schema_dsn
    store = PostgresStateStore(dsn, "prod")
    try:
        store.read()
        conn.execute(f"{NEW_INSERT} VALUES ('prod', 'cores.c', 'cores', 'c1', '[\"c\"]', '', '{{}}', 3)")
        with pytest.raises(StateError, match=r"entry 'cores\.c': unsupported state format 3"):
            store.read()
    finally:
        store.close()
