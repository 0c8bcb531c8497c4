"""The transport under every network API client: aiohttp's connection pool and C HTTP/1.1 parser,
behind httpx2's transport seam.

The HTTP policy (:mod:`reconciler.providers.http`, :mod:`reconciler.providers.limits`) and every
provider keep speaking ``httpx2``: requests are built, bodies decoded, capped and timed by httpx2
and by the policy exactly as before. Only the bytes on the wire move here, where httpx2's own
stack (httpcore2, h11 in pure Python, AnyIO) cost ~3x the CPU per request of aiohttp's (see
bench/README.md, "Per request"). What this layer must keep, and does:

- no redirects (``allow_redirects=False``; a 3xx reaches the policy, which refuses it);
- no decompression here (``auto_decompress=False``): httpx2 decodes and the policy counts the
  decoded bytes against the body cap, so a gzip bomb is still cut;
- TLS with the caller's context (verifying, or trusting nothing for plain-http endpoints);
- no cookies kept (``DummyCookieJar``), no proxy or ``.netrc`` read from the environment (as
  httpx2 given a transport of its own: it reads them only for the transport it builds);
- httpx2's timeouts (connect, read, pool) per request, and aiohttp's errors as httpx2's, so the
  retry rules (what surely did not land, what may have) read them as before.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2
from yarl import URL

__all__ = ["AiohttpTransport"]

# httpx2's default pool size per client; the fleet passes its own.
DEFAULT_LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
_READ_CHUNK = 64 * 1024
_IN_MEMORY = 64 * 1024


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp connection pool (opened on first use, in the running event loop)."""

    def __init__(self, tls: ssl.SSLContext, limits: httpx2.Limits = DEFAULT_LIMITS) -> None:
        self.tls, self.limits = tls, limits
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            keepalive = self.limits.keepalive_expiry
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,
                limit_per_host=0,
                ssl=self.tls,
                keepalive_timeout=5.0 if keepalive is None else keepalive,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None),
                # httpx2 built every header the request carries; aiohttp adds none of its own.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self._open()
        body = request.content if isinstance(request.stream, httpx2.ByteStream) else await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            answer = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout", {})),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc, request) from exc
        reason = (answer.reason or "").encode("ascii", "replace")
        stream: httpx2.AsyncByteStream
        if _small(answer):
            try:
                stream = httpx2.ByteStream(await answer.read())
            except (aiohttp.ClientError, TimeoutError) as exc:
                answer.close()
                raise _as_httpx(exc, request) from exc
        else:
            stream = _Body(answer, request)
        return httpx2.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _small(answer: aiohttp.ClientResponse) -> bool:
    """An answer read whole here, in memory, as it arrives (nearly every API answer: a list page is
    a few KB): declared at most ``_IN_MEMORY`` bytes long and not compressed. aiohttp's parser reads
    exactly the declared length, the read runs within the attempt's deadline as any read, and the
    bound is below every body cap of the policy (providers/limits.py). Anything else is streamed
    (``_Body``) for the policy to count and cut."""
    length = answer.content_length
    return (
        length is not None
        and length <= _IN_MEMORY
        and answer.headers.get("Content-Encoding", "identity").lower() == "identity"
    )


def _timeout(given: Mapping[str, Any]) -> aiohttp.ClientTimeout:
    """httpx2's per-request timeouts: connect (the socket), read (between bytes), pool (the wait
    for a connection; aiohttp's ``connect`` is that wait and the socket's connect together)."""
    connect, read, pool = given.get("connect"), given.get("read"), given.get("pool")
    waited = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=waited, sock_connect=connect, sock_read=read)


class _Body(httpx2.AsyncByteStream):
    """An answer's body as it arrives; closing it before the end drops the connection."""

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self.answer, self.request = answer, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self.answer.content
        try:
            while chunk := await content.read(_READ_CHUNK):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc, self.request) from exc

    async def aclose(self) -> None:
        if self.answer.content.at_eof():
            self.answer.release()
        else:
            self.answer.close()


def _as_httpx(exc: aiohttp.ClientError | TimeoutError, request: httpx2.Request) -> httpx2.TransportError:
    """aiohttp's error as the httpx2 error the policy reads."""
    text = str(exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(text, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx2.ReadTimeout(text or "timed out", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx2.RemoteProtocolError(text or "the server closed the connection", request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed status line or headers
        return httpx2.RemoteProtocolError(text, request=request)
    # Anything else (a reset while sending or reading) may have reached the server: never a
    # ConnectError, which the policy takes for "surely not sent".
    return httpx2.ReadError(text or type(exc).__name__, request=request)
