"""Signaloid Cloud Compute Engine: cores, repositories, webhooks, cloud-storage files."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.providers.connect import Sandbox, api_client, bare_client, endpoint_and_key, shared_reads
from reconciler.providers.settings import SignaloidSettings
from reconciler.providers.signaloid.provider import SignaloidProvider
from reconciler.providers.signaloid.storage import CloudStorage

if TYPE_CHECKING:
    from reconciler.providers.endpoints import EndpointPool

DEFAULT_URL = "https://api.signaloid.io"


def build(
    settings: SignaloidSettings,
    environ: Mapping[str, str],
    sandbox: Sandbox | None,
    pool: EndpointPool | None = None,
) -> SignaloidProvider:
    url = (settings.url or environ.get("SIGNALOID_API_URL") or DEFAULT_URL).rstrip("/")
    endpoint, key = endpoint_and_key(
        "signaloid", sandbox, url, settings.api_key, environ, "SIGNALOID_API_KEY"
    )
    http = api_client(
        "signaloid", endpoint, settings.http, headers={"Authorization": key}, secrets=[key], pool=pool
    )
    # Upload URLs are presigned, usually on another host: a client with no credentials at all.
    storage = CloudStorage(
        http,
        functools.partial(bare_client, endpoint, settings.http),
        check_urls=endpoint.transport is None,
        insecure_ok=settings.http.allow_insecure_http,
    )
    shared = shared_reads(endpoint, pool)
    if shared is None:
        return SignaloidProvider(http, storage=storage)
    account = (endpoint.url, hashlib.sha256(key.encode()).hexdigest())  # never the key itself
    return SignaloidProvider(http, storage=storage, shared=shared, account=account)


__all__ = ["SignaloidProvider", "build"]
