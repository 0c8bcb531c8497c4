"""Building the HTTP client for one API: a real endpoint, or an in-process emulator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.config.settings import HttpSettings
from reconciler.providers.http import ApiClient, check_endpoint

__all__ = ["Endpoint", "api_client"]

USER_AGENT = "reconciler/0.1"


@dataclass(frozen=True)
class Endpoint:
    url: str
    transport: httpx.AsyncBaseTransport | None = None  # set for the in-process sandbox


def api_client(
    api: str,
    endpoint: Endpoint,
    settings: HttpSettings,
    *,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    **policy: Any,
) -> ApiClient:
    if endpoint.transport is None:
        check_endpoint(api, endpoint.url, settings.allow_insecure_http)
    timeout = httpx.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s))
    client = httpx.AsyncClient(
        base_url=endpoint.url,
        transport=endpoint.transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )
    return ApiClient(api, client, settings, secrets=secrets, **policy)
