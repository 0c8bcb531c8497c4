"""A network backend for the fleet's shared connection pools: AnyIO's, with a cheap "is readable".

httpcore asks every idle connection of a pool whether its socket is readable (closed by the
server) each time it assigns a request, and again when a response is closed. AnyIO's stream
answers by building a dict of all its socket attributes, every time. One stack's pool holds a
few connections; the pool a fleet shares per endpoint holds ``--per-endpoint`` (32), so that check
ran ~60 times per request and took a tenth of a fleet's CPU. Here the raw socket is looked up once
per connection and polled directly (the same test httpcore makes), by a poller made once.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2

__all__ = ["PollingBackend"]


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self.inner = inner
        self.sock: socket.socket | None = inner.get_extra_info("socket")
        # One poller per connection, its socket registered once: a check is then one poll(2).
        self._poller = select.poll()
        if self.sock is not None and self.sock.fileno() >= 0:
            self._poller.register(self.sock.fileno(), select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._readable()
        return self.inner.get_extra_info(info)

    def _readable(self) -> bool:
        """Whether a read would return at once (data, or the end of a closed connection)."""
        if self.sock is None or self.sock.fileno() < 0:
            return True  # gone (its number may be another socket's by now): as httpcore, readable
        return bool(self._poller.poll(0))


class PollingBackend(httpcore2.AsyncNetworkBackend):
    """``httpcore2.AnyIOBackend`` whose streams answer ``is_readable`` from a cached socket."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self.inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self.inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
