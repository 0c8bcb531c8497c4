"""The PostgreSQL server for the shared-state tests: ``RECONCILER_TEST_PG_DSN``, set by
``eval "$(bash .ci/start-postgres.sh)"`` (``.ci/run`` does it).

Without it the tests skip, loudly (a warning in the summary as well as the skip reason); under CI
(``CI`` set) they fail instead, since CI must run them.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

__all__ = ["own_schema", "postgres_dsn"]

HOW = 'start one with: eval "$(bash .ci/start-postgres.sh)"'


def postgres_dsn() -> str:
    """The test server's DSN, or skip (fail under CI) saying how to start one."""
    dsn = os.environ.get("RECONCILER_TEST_PG_DSN", "").strip()
    if dsn:
        return dsn
    reason = f"RECONCILER_TEST_PG_DSN is not set, so the PostgreSQL state tests cannot run; {HOW}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    warnings.warn(f"SKIPPING PostgreSQL state tests: {reason}", stacklevel=2)
    pytest.skip(f"no PostgreSQL server: {reason}")


@contextmanager
def own_schema() -> Iterator[str]:
    """The test server's DSN, with a schema of the test's own on the search path (dropped after)."""
    import psycopg

    dsn = postgres_dsn()
    schema = f"watch_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joined = "&" if "?" in dsn else "?"
    yield f"{dsn}{joined}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
