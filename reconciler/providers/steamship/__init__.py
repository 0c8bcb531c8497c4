"""Steamship engine: workspaces and package instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.providers.connect import Sandbox, api_client, endpoint_and_key
from reconciler.providers.settings import SteamshipSettings
from reconciler.providers.steamship.provider import SteamshipProvider

if TYPE_CHECKING:
    from reconciler.providers.endpoints import EndpointPool

DEFAULT_BASE = "https://api.steamship.com/api/v1/"


def build(
    settings: SteamshipSettings,
    environ: Mapping[str, str],
    sandbox: Sandbox | None,
    pool: EndpointPool | None = None,
) -> SteamshipProvider:
    base = settings.base or environ.get("STEAMSHIP_API_BASE") or DEFAULT_BASE
    # Operations are relative ("workspace/create"): the base must end with a slash to keep its path.
    url = base.rstrip("/") + "/"
    endpoint, key = endpoint_and_key(
        "steamship", sandbox, url, settings.api_key, environ, "STEAMSHIP_API_KEY"
    )
    http = api_client(
        "steamship",
        endpoint,
        settings.http,
        headers={"Authorization": f"Bearer {key}"},
        secrets=[key],
        pool=pool,
    )
    return SteamshipProvider(http, settings.wait_timeout_s)


__all__ = ["SteamshipProvider", "build"]
