"""Provider settings: the stack's ``providers:`` section, and the HTTP policy's knobs.

Credentials and endpoints may also come from the environment (README.md, "Providers");
a value written in the stack wins. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from reconciler.kinds.fields import HttpUrlStr


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(_Settings):
    """The shared HTTP policy's knobs, per provider."""

    timeout_s: float = Field(default=30.0, gt=0, description="connect and read timeout, seconds")
    max_retries: int = Field(default=5, ge=0, le=20)
    retry_budget_s: float = Field(default=60.0, gt=0, description="cap on total time spent retrying one call")
    rate_limit_per_s: float | None = Field(default=None, gt=0, description="client-side request rate cap")
    adaptive_concurrency: bool = Field(
        default=True,
        description="calls in flight per endpoint grow while latency is flat and fall on 429/503; "
        "false: as many as --parallelism allows",
    )
    allow_insecure_http: bool = Field(
        default=False, description="allow plain http:// to a host that is not loopback"
    )


class SignaloidSettings(_Settings):
    api_key: SecretStr | None = Field(default=None, description="default: $SIGNALOID_API_KEY")
    url: HttpUrlStr | None = Field(
        default=None, description="default: $SIGNALOID_API_URL or https://api.signaloid.io"
    )
    http: HttpSettings = HttpSettings()


HubName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class ScramjetHubSettings(_Settings):
    url: HttpUrlStr = Field(
        description="the hub's API base: http://127.0.0.1:8000/api/v1 (self-hosted), or a Cloud Platform "
        "hub's https://api.scramjet.cloud/api/v1/space/<SPACE>/api/v1/sth/<STH>/api/v1"
    )
    token: SecretStr | None = Field(
        default=None,
        description="bearer token; default for Cloud Platform hubs (*.scramjet.cloud): $SCRAMJET_TOKEN. "
        "Self-hosted hubs take none",
    )
    http: HttpSettings = HttpSettings()


class ScramjetSettings(_Settings):
    hubs: dict[HubName, ScramjetHubSettings] = Field(
        default_factory=dict, description="hubs by the name sequences refer to (sequences.<name>.hub)"
    )
    stop_timeout_ms: int = Field(
        default=1000, ge=0, le=60_000, description="grace given to an instance on _stop before _kill"
    )
    health_check_s: float = Field(
        default=1.5, ge=0, le=60, description="how long a started instance is watched for a crash at load"
    )


class SteamshipSettings(_Settings):
    api_key: SecretStr | None = Field(default=None, description="default: $STEAMSHIP_API_KEY")
    base: HttpUrlStr | None = Field(
        default=None,
        description="API base; default: $STEAMSHIP_API_BASE or https://api.steamship.com/api/v1/",
    )
    wait_timeout_s: float = Field(
        default=180.0, gt=0, description="how long to wait for a task, or for a package instance's init"
    )
    http: HttpSettings = HttpSettings()


class Providers(_Settings):
    signaloid: SignaloidSettings = SignaloidSettings()
    steamship: SteamshipSettings = SteamshipSettings()
    scramjet: ScramjetSettings = ScramjetSettings()
