"""Signaloid Cloud Compute Engine: cores, repositories, webhooks."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.providers.connect import Sandbox, api_client, endpoint_and_key, shared_reads
from reconciler.providers.signaloid.provider import SignaloidProvider

DEFAULT_URL = "https://api.signaloid.io"


def build(stack: Any, environ: Mapping[str, str], sandbox: Sandbox | None) -> SignaloidProvider:
    settings = stack.providers.signaloid
    url = (settings.url or environ.get("SIGNALOID_API_URL") or DEFAULT_URL).rstrip("/")
    endpoint, key = endpoint_and_key(
        "signaloid", sandbox, url, settings.api_key, environ, "SIGNALOID_API_KEY"
    )
    http = api_client("signaloid", endpoint, settings.http, headers={"Authorization": key}, secrets=[key])
    shared = shared_reads(endpoint)
    if shared is None:
        return SignaloidProvider(http)
    account = (endpoint.url, hashlib.sha256(key.encode()).hexdigest())  # never the key itself
    return SignaloidProvider(http, shared=shared, account=account)


__all__ = ["SignaloidProvider", "build"]
