"""Issue 18.9, shared state: a row of the wrong shape in PostgreSQL (written by hand, or by someone
hostile) is one clear error naming the stack and the entry, as for a state file, never a traceback."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from reconciler.errors import StateError
from reconciler.state.postgres import PostgresStateStore
from tests.support.postgres import postgres_dsn

ROWS = {
    "unknown kind": ("nope", "x", Jsonb(["a"]), Jsonb({}), "unknown kind 'nope'"),
    "key an object": ("cores", "cor_1", Jsonb({"a": 1}), Jsonb({}), "'key' must be a list of strings"),
    "extra a list": ("cores", "cor_1", Jsonb(["a"]), Jsonb([1, 2]), "'extra' must be an object"),
    "deposed a string": ("cores", "cor_1", Jsonb(["a"]), Jsonb({"deposed": "x"}), "'extra.deposed'"),
    "empty remote id": ("cores", "", Jsonb(["a"]), Jsonb({}), "'remote_id' must be a non-empty string"),
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_a_bad_row_is_one_clear_state_error(case: str) -> None:
    dsn, stack = postgres_dsn(), f"test-{uuid.uuid4().hex[:12]}"
    kind, remote_id, key, extra, message = ROWS[case]
    store = PostgresStateStore(dsn, stack)
    try:
        store.read()  # creates the tables
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO reconciler_state (stack, address, kind, remote_id, key, digest, extra) "
                "VALUES (%s, %s, %s, %s, %s, '', %s)",
                (stack, "cores.a", kind, remote_id, key, extra),
            )
        with pytest.raises(StateError) as caught:
            store.read()
        text = str(caught.value)
        assert f"stack {stack!r}" in text and "entry 'cores.a'" in text and message in text, text
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM reconciler_state WHERE stack = %s", (stack,))
