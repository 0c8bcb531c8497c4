"""One connection pool and one concurrency limit per API endpoint, shared by every stack of a run.

Stacks of a fleet often point at the same API (one Signaloid URL, one Steamship base), each with
its own key. Each stack still gets its own ``httpx2.AsyncClient`` (its own base URL and
``Authorization`` header), but every client for one origin (``scheme://host:port``) sends through
the same transport: one pool of connections, and at most ``limit`` requests in flight to that
origin, whichever stack sends them. Hand an ``EndpointPool`` to ``open_session(endpoints=…)``.
``read_once`` shares a read-only answer that is the same for every stack of one account (Signaloid's
default cores) within the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2

__all__ = ["DEFAULT_LIMIT", "EndpointPool", "origin"]

DEFAULT_LIMIT = 32
T = TypeVar("T")


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL: what one connection pool serves."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EndpointPool:
    """Per-run registry: origin -> one shared, concurrency-limited transport."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        make_transport: Callable[[str, httpx2.Limits], httpx2.AsyncBaseTransport] | None = None,
    ) -> None:
        self.limit = limit
        self._make = make_transport or _http_transport
        self._transports: dict[str, _Limited] = {}
        self._reads: dict[Hashable, asyncio.Future[Any]] = {}

    def transport(self, url: str) -> httpx2.AsyncBaseTransport:
        key = origin(url)
        if key not in self._transports:
            # The pool is larger than the limit: a request that got a slot never waits for a connection.
            limits = httpx2.Limits(max_connections=self.limit, max_keepalive_connections=self.limit)
            self._transports[key] = _Limited(self._make(url, limits), self.limit)
        return self._transports[key]

    async def read_once(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """``fetch()`` once per run for every stack asking with this ``key``, which must name the
        endpoint and the credentials (one account's read is never handed to another). A waiter whose
        shared read failed (its owner's check failed, say) reads for itself."""
        task = self._reads.get(key)
        if task is None:
            task = self._reads[key] = asyncio.ensure_future(fetch())
            try:
                return await asyncio.shield(task)
            except BaseException:
                self._reads.pop(key, None)
                raise
        try:
            return await asyncio.shield(task)
        except Exception:
            return await fetch()

    def forget_reads(self) -> None:
        """Start a new "run" for ``read_once``: the next ask reads again. A long-running process
        (``reconciler watch``) calls it every few seconds, so shared reads are never stale for
        long and are not kept for ever; a read in flight finishes for those already waiting."""
        self._reads.clear()

    def origins(self) -> list[str]:
        return sorted(self._transports)

    def peak_in_flight(self, url: str) -> int:
        """The most requests that were in flight at once to ``url``'s origin (0 if never used)."""
        transport = self._transports.get(origin(url))
        return transport.peak if transport else 0

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.inner.aclose()
        self._transports.clear()


def _http_transport(url: str, limits: httpx2.Limits) -> httpx2.AsyncBaseTransport:
    """httpx's transport with the TLS context the clients use (``tls_for``: an http:// endpoint
    does not load the trust store, which httpx's default would, 50-120 ms), over a connection
    pool whose idle-connection checks are cheap (``streams.PollingBackend``). httpx takes no
    network backend, so its pool is replaced by the same pool built with one."""
    import httpcore2

    from reconciler.providers.connect import tls_for
    from reconciler.providers.streams import PollingBackend

    tls = tls_for(url)
    transport = httpx2.AsyncHTTPTransport(limits=limits, verify=tls)
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PollingBackend(),
    )
    return transport


class _Limited(httpx2.AsyncBaseTransport):
    """A transport that lets at most ``limit`` requests be in flight (until the body is read)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self.inner = inner
        self.slots = asyncio.Semaphore(limit)
        self.in_flight = self.peak = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await self.slots.acquire()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            self._release()
            raise
        if isinstance(response.stream, httpx2.ByteStream):  # already in memory: nothing left to read
            self._release()
        else:
            response.stream = _Releasing(response.stream, self._release)  # type: ignore[arg-type]
        return response

    def _release(self) -> None:
        self.in_flight -= 1
        self.slots.release()

    async def aclose(self) -> None:
        """A client closing does not close the shared pool; ``EndpointPool.aclose`` does."""


class _Releasing(httpx2.AsyncByteStream):
    """The response body; frees the request's slot once, when it is closed."""

    def __init__(self, stream: httpx2.AsyncByteStream, release: Callable[[], None]) -> None:
        self.stream, self._release = stream, release
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            if not self._done:
                self._done = True
                self._release()
