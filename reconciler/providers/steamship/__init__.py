"""Steamship engine: workspaces and package instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.providers.connect import Endpoint, api_client, api_key
from reconciler.providers.steamship.provider import SteamshipProvider

DEFAULT_BASE = "https://api.steamship.com/api/v1/"


def build(stack: Any, environ: Mapping[str, str], sandbox: Any) -> SteamshipProvider:
    settings = stack.providers.steamship
    if sandbox is not None:
        endpoint = sandbox.endpoint("steamship")
        key = "sandbox-key"
    else:
        base = settings.base or environ.get("STEAMSHIP_API_BASE") or DEFAULT_BASE
        key = api_key("steamship", settings.api_key, environ, "STEAMSHIP_API_KEY")
        # Operations are relative ("workspace/create"): the base must end with a slash to keep its path.
        endpoint = Endpoint(url=base.rstrip("/") + "/")
    http = api_client(
        "steamship", endpoint, settings.http, headers={"Authorization": f"Bearer {key}"}, secrets=[key]
    )
    return SteamshipProvider(http, settings.wait_timeout_s)


__all__ = ["SteamshipProvider", "build"]
