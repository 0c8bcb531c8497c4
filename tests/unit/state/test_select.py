"""Choosing the state backend: the stack's ``state:`` wins over the environment; sandbox runs
always keep local state; the DSN is a secret in every description and message (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.app.session import open_session
from reconciler.errors import StateError
from reconciler.state import LocalStateStore
from reconciler.state.postgres import PostgresStateStore, scrub_dsn
from reconciler.state.select import open_store
from reconciler.state.settings import StateSettings

DSN = "postgresql://ci:hunter2-secret@db.internal:5433/infra"
ENV = {"RECONCILER_STATE_BACKEND": "postgres", "RECONCILER_PG_DSN": DSN, "RECONCILER_STATE_STACK": "prod"}


def test_local_is_the_default(tmp_path: Path) -> None:
    store = open_store(StateSettings(), tmp_path, {})
    assert isinstance(store, LocalStateStore) and store.path == tmp_path / ".reconciler" / "state.json"


def test_the_environment_chooses_postgres_and_its_stack(tmp_path: Path) -> None:
    store = open_store(StateSettings(), tmp_path, ENV)
    assert isinstance(store, PostgresStateStore) and store.stack == "prod"
    assert store.description == "PostgreSQL state, stack 'prod' on db.internal:5433/infra"


def test_the_stack_wins_over_the_environment(tmp_path: Path) -> None:
    written = StateSettings.model_validate(
        {"backend": "postgres", "dsn": "host=elsewhere dbname=s password=pw", "stack": "staging"}
    )
    store = open_store(written, tmp_path, ENV)
    assert isinstance(store, PostgresStateStore) and store.stack == "staging"
    assert "elsewhere" in store.description and "pw" not in store.description
    assert isinstance(open_store(StateSettings(backend="local"), tmp_path, ENV), LocalStateStore)


def test_the_stack_name_defaults_to_default(tmp_path: Path) -> None:
    store = open_store(StateSettings(backend="postgres"), tmp_path, {"RECONCILER_PG_DSN": DSN})
    assert isinstance(store, PostgresStateStore) and store.stack == "default"


def test_postgres_without_a_dsn_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="RECONCILER_PG_DSN"):
        open_store(StateSettings(), tmp_path, {"RECONCILER_STATE_BACKEND": "postgres"})


def test_an_unknown_backend_in_the_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="'s3' is not a backend"):
        open_store(StateSettings(), tmp_path, {"RECONCILER_STATE_BACKEND": "s3"})


def test_the_dsn_is_a_secret_in_the_settings() -> None:
    settings = StateSettings.model_validate({"backend": "postgres", "dsn": DSN})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_sandbox_runs_keep_local_state_whatever_the_environment(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\nstate: {backend: postgres, stack: prod}\n")
    session = open_session([tmp_path], sandbox=True, environ=ENV)
    assert isinstance(session.store, LocalStateStore)
    assert tmp_path / ".reconciler" / "sandbox" in session.store.path.parents
    assert isinstance(open_session([tmp_path], sandbox=False, environ=ENV).store, PostgresStateStore)


@pytest.mark.parametrize(
    "dsn, secret",
    [
        (DSN, "hunter2-secret"),
        ("postgresql://ci:p%40ss%2Fword@h/db", "p@ss/word"),
        ("host=h password='two words' dbname=x", "two words"),
        ("host=h password=plain dbname=x", "plain"),
        ("postgresql://ci:unparsable@h/db?nonsense=1", "unparsable"),
    ],
)
def test_scrub_removes_the_dsn_and_its_password(dsn: str, secret: str) -> None:
    message = f'connection to "{dsn}" failed for password {secret}'
    scrubbed = scrub_dsn(message, dsn)
    assert secret not in scrubbed and dsn not in scrubbed
    assert "***" in scrubbed
