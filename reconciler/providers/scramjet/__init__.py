"""Scramjet Transform Hubs (self-hosted, or on Scramjet Cloud Platform): sequences and instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.errors import ProviderError
from reconciler.providers.connect import Endpoint, Sandbox, api_client
from reconciler.providers.http import ApiClient
from reconciler.providers.scramjet.provider import ScramjetProvider
from reconciler.providers.settings import ScramjetSettings

if TYPE_CHECKING:
    from reconciler.providers.endpoints import EndpointPool

__all__ = ["ScramjetProvider", "build", "is_cloud_platform"]


def is_cloud_platform(url: str) -> bool:
    """Cloud Platform hubs are reached through api.scramjet.cloud and need a bearer token."""
    host = (urlsplit(url).hostname or "").lower()
    return host == "scramjet.cloud" or host.endswith(".scramjet.cloud")


def build(
    settings: ScramjetSettings,
    environ: Mapping[str, str],
    sandbox: Sandbox | None,
    pool: EndpointPool | None = None,
) -> ScramjetProvider:
    clients: dict[str, ApiClient] = {}
    for hub, hub_settings in settings.hubs.items():
        headers: dict[str, str] = {}
        if sandbox is not None:
            endpoint = sandbox.endpoint("scramjet", hub)
        else:
            endpoint = Endpoint(url=hub_settings.url.rstrip("/"))
            token = hub_settings.token.get_secret_value() if hub_settings.token else None
            if token is None and is_cloud_platform(hub_settings.url):
                token = environ.get("SCRAMJET_TOKEN") or None
                if token is None:
                    raise ProviderError(
                        f"scramjet: hub {hub} is on Scramjet Cloud Platform and needs a token: set "
                        f"SCRAMJET_TOKEN or providers.scramjet.hubs.{hub}.token (or use --sandbox)"
                    )
            if token:
                headers["Authorization"] = f"Bearer {token}"
        secrets = [headers["Authorization"].removeprefix("Bearer ")] if headers else []
        clients[hub] = api_client(
            f"scramjet:{hub}", endpoint, hub_settings.http, headers=headers, secrets=secrets, pool=pool
        )
    return ScramjetProvider(
        clients, stop_timeout_ms=settings.stop_timeout_ms, health_check_s=settings.health_check_s
    )
