"""Provider and state settings in the stack's ``providers:`` and ``state:`` sections.

Credentials and endpoints may also come from the environment (DESIGN.md, command line);
a value written in the stack wins. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from reconciler.kinds.fields import HttpUrlStr


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(_Settings):
    """The shared HTTP policy's knobs, per provider."""

    timeout_s: float = Field(default=30.0, gt=0, description="connect and read timeout, seconds")
    max_retries: int = Field(default=5, ge=0, le=20)
    retry_budget_s: float = Field(default=60.0, gt=0, description="cap on total time spent retrying one call")
    rate_limit_per_s: float | None = Field(default=None, gt=0, description="client-side request rate cap")
    allow_insecure_http: bool = Field(
        default=False, description="allow plain http:// to a host that is not loopback"
    )


class SignaloidSettings(_Settings):
    api_key: SecretStr | None = Field(default=None, description="default: $SIGNALOID_API_KEY")
    url: HttpUrlStr | None = Field(
        default=None, description="default: $SIGNALOID_API_URL or https://api.signaloid.io"
    )
    http: HttpSettings = HttpSettings()


class Providers(_Settings):
    signaloid: SignaloidSettings = SignaloidSettings()


class StateSettings(_Settings):
    backend: Literal["local"] = "local"
    path: str | None = Field(
        default=None, description="state file; default .reconciler/state.json beside the stack"
    )
