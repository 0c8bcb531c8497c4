"""State settings: the stack's ``state:`` section (which backend, and where)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["StateSettings"]


class StateSettings(BaseModel):
    """Where state lives. Left out of the stack, the backend comes from $RECONCILER_STATE_BACKEND."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["local", "postgres"] = Field(
        default="local", description="default: $RECONCILER_STATE_BACKEND, else local"
    )
    path: str | None = Field(
        default=None, description="local: state file; default .reconciler/state.json beside the stack"
    )
    dsn: SecretStr | None = Field(
        default=None, description='postgres: connection string, e.g. "${env:RECONCILER_PG_DSN}" (the default)'
    )
    stack: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="postgres: the name this stack's rows and lock go by; default $RECONCILER_STATE_STACK "
        "or 'default'",
    )
