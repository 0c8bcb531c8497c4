"""Signaloid Cloud Compute Engine: cores, repositories, webhooks."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.providers.connect import Endpoint, api_client, api_key, shared_reads
from reconciler.providers.signaloid.provider import SignaloidProvider

DEFAULT_URL = "https://api.signaloid.io"


def build(stack: Any, environ: Mapping[str, str], sandbox: Any) -> SignaloidProvider:
    settings = stack.providers.signaloid
    if sandbox is not None:
        endpoint = sandbox.endpoint("signaloid")
        key = "sandbox-key"
    else:
        url = settings.url or environ.get("SIGNALOID_API_URL") or DEFAULT_URL
        key = api_key("signaloid", settings.api_key, environ, "SIGNALOID_API_KEY")
        endpoint = Endpoint(url=url.rstrip("/"))
    http = api_client("signaloid", endpoint, settings.http, headers={"Authorization": key}, secrets=[key])
    shared = shared_reads(endpoint)
    if shared is None:
        return SignaloidProvider(http)
    account = (endpoint.url, hashlib.sha256(key.encode()).hexdigest())  # never the key itself
    return SignaloidProvider(http, shared=shared, account=account)


__all__ = ["SignaloidProvider", "build"]
