"""The PostgreSQL server for the shared-state tests: ``RECONCILER_TEST_PG_DSN``, set by
``eval "$(bash .ci/start-postgres.sh)"`` (``.ci/run`` does it).

Without it the tests skip, loudly (a warning in the summary as well as the skip reason); under CI
(``CI`` set) they fail instead, since CI must run them.
"""

from __future__ import annotations

import os
import warnings

import pytest

__all__ = ["postgres_dsn"]

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
