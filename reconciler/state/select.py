"""Choose the state backend from the stack's ``state:`` section and the environment.

A value written in the stack wins over the environment: ``backend`` (else
``$RECONCILER_STATE_BACKEND``, else ``local``), ``dsn`` (else ``$RECONCILER_PG_DSN``), ``stack``
(else ``$RECONCILER_STATE_STACK``, else ``default``). Sandbox runs never come here: their state
lives with the sandbox data (``workflow.open_session``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import StateError
from reconciler.state.base import StateStore
from reconciler.state.local import LocalStateStore
from reconciler.state.settings import StateSettings

__all__ = ["open_store"]

DEFAULT_STACK = "default"


def open_store(settings: StateSettings, root: Path, environ: Mapping[str, str]) -> StateStore:
    """The configured store for a stack whose files are in ``root``."""
    if "backend" in settings.model_fields_set:
        backend: str = settings.backend
    else:
        backend = environ.get("RECONCILER_STATE_BACKEND", "").strip() or "local"
    if backend == "postgres":
        return _postgres(settings, environ)
    if backend != "local":
        raise StateError(f"RECONCILER_STATE_BACKEND={backend!r} is not a backend: use local or postgres")
    path = Path(settings.path) if settings.path else root / ".reconciler" / "state.json"
    if settings.path and not path.is_absolute():
        path = root / path
    return LocalStateStore(path)


def _postgres(settings: StateSettings, environ: Mapping[str, str]) -> StateStore:
    dsn = settings.dsn.get_secret_value() if settings.dsn else environ.get("RECONCILER_PG_DSN", "")
    if not dsn.strip():
        raise StateError(
            "the postgres state backend needs a connection string: set state.dsn in the stack "
            '(e.g. dsn: "${env:RECONCILER_PG_DSN}") or the RECONCILER_PG_DSN environment variable'
        )
    stack = settings.stack or environ.get("RECONCILER_STATE_STACK", "").strip() or DEFAULT_STACK
    try:
        from reconciler.state.postgres import PostgresStateStore  # psycopg only for those who use it
    except ImportError as exc:
        raise StateError(
            f"the postgres state backend needs psycopg 3 ({exc.name} is missing): "
            "pip install 'psycopg[binary]>=3.1'"
        ) from None
    return PostgresStateStore(dsn, stack)
