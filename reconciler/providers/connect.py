"""Building the HTTP client for one API: a real endpoint, or an in-process emulator."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx2

from reconciler.errors import ProviderError
from reconciler.providers.http import ApiClient, check_endpoint
from reconciler.providers.settings import HttpSettings

if TYPE_CHECKING:
    from pydantic import SecretStr

    from reconciler.providers.endpoints import EndpointPool

__all__ = [
    "Endpoint",
    "Sandbox",
    "Transport",
    "api_client",
    "api_key",
    "bare_client",
    "base_url",
    "endpoint_and_key",
    "in_process",
    "shared_reads",
    "tls_for",
]

USER_AGENT = "reconciler/0.1"
# What carries a client's requests: a pool of connections, or an in-process app. Named here so
# the layers above type it without importing the HTTP library.
Transport = httpx2.AsyncBaseTransport


def in_process(app: Any) -> Transport:
    """A transport that calls an ASGI app in this process (the sandbox's emulators)."""
    return httpx2.ASGITransport(app=app)


def api_key(api: str, configured: SecretStr | None, environ: Mapping[str, str], variable: str) -> str:
    """The API key from the stack (a SecretStr) or the environment; a clear error when neither."""
    key = configured.get_secret_value() if configured else environ.get(variable, "")
    if not key:
        raise ProviderError(
            f"{api}: no API key: set {variable} or providers.{api}.api_key "
            "(or use --sandbox to try without an account)"
        )
    return str(key)


class Sandbox(Protocol):
    """What a provider asks of the in-process emulators (``sandbox.inprocess.InProcessSandbox``)."""

    def endpoint(self, api: str, instance: str | None = None) -> Endpoint: ...


@dataclass(frozen=True)
class Endpoint:
    url: str
    transport: Transport | None = None  # set for the in-process sandbox


SANDBOX_KEY = "sandbox-key"


def endpoint_and_key(
    api: str,
    sandbox: Sandbox | None,
    url: str,
    configured: SecretStr | None,
    environ: Mapping[str, str],
    variable: str,
) -> tuple[Endpoint, str]:
    """Where ``api`` is and the key it takes: the in-process emulator under --sandbox (no account,
    a fixed key), else ``url`` and the key from the stack or ``variable``."""
    if sandbox is not None:
        return sandbox.endpoint(api), SANDBOX_KEY
    return Endpoint(url=url), api_key(api, configured, environ, variable)


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """The CA-verifying TLS context, built once per process and shared by every client: loading
    the trust store costs 50-120 ms, which httpx would otherwise pay again for each client."""
    return httpx2.create_ssl_context()


@functools.cache
def _untrusting_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def tls_for(url: str) -> ssl.SSLContext:
    """TLS for this endpoint, one context per process for each case (a fleet builds a client per
    stack). A plain http:// one (loopback, or allowed) gets a context that verifies but trusts
    nothing: it costs nothing to load, and should anything ever lead such a client to https, that
    fails closed."""
    if urlsplit(url).scheme == "https":
        return _verifying_context()
    return _untrusting_context()


def shared_reads(endpoint: Endpoint, pool: EndpointPool | None) -> EndpointPool | None:
    """The run's ``read_once`` registry (a fleet's ``EndpointPool``) for a network endpoint, or None:
    one stack alone, or the in-process sandbox (each stack has its own emulator behind one URL)."""
    return pool if pool is not None and endpoint.transport is None else None


def bare_client(endpoint: Endpoint, settings: HttpSettings) -> httpx2.AsyncClient:
    """A client for URLs an API hands us (a presigned upload URL): no base URL, no credentials, no
    redirects, TLS verified; the in-process sandbox's transport when there is one."""
    timeout = httpx2.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s))
    return httpx2.AsyncClient(
        transport=endpoint.transport,
        verify=_verifying_context(),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


@functools.lru_cache(maxsize=256)
def base_url(url: str) -> httpx2.URL:
    """``url`` parsed as the base URL httpx2 makes of it (with its trailing slash), once per
    process: httpx2 parses a URL given as text character by character, twice per client, and a
    fleet builds a client per stack for the same few endpoints."""
    parsed = httpx2.URL(url)
    return parsed if parsed.raw_path.endswith(b"/") else parsed.copy_with(raw_path=parsed.raw_path + b"/")


def api_client(
    api: str,
    endpoint: Endpoint,
    settings: HttpSettings,
    *,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    pool: EndpointPool | None = None,
    **policy: Any,
) -> ApiClient:
    """A client of ``endpoint``; with a ``pool`` (a fleet's), it sends through the transport the pool
    shares among every client of that URL in the run."""
    if endpoint.transport is None:
        check_endpoint(api, endpoint.url, settings.allow_insecure_http)
    timeout = httpx2.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s))
    transport = endpoint.transport
    if transport is None and pool is not None:
        transport = pool.transport(endpoint.url)
    client = httpx2.AsyncClient(
        base_url=base_url(endpoint.url),
        transport=transport,
        verify=tls_for(endpoint.url),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        limits=httpx2.Limits(max_connections=64, max_keepalive_connections=32),
    )
    return ApiClient(api, client, settings, secrets=secrets, **policy)
