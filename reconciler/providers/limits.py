"""What one HTTP answer may cost: a size cap, a wall-clock deadline, and no redirects.

A hostile or broken server can otherwise take the client's memory (a 600 MB body), hang it for
ever (one byte per second resets a read timeout on every byte), or bounce a DELETE elsewhere
and have a 301 taken for success. So every attempt of every call (:func:`send_within`):

- is sent and its whole answer read within ``deadline_s`` of wall-clock time, connect, upload
  and body included; past it the attempt ends like a read timeout (retried when idempotent and
  within the retry budget, else an uncertain outcome);
- streams the body and stops at ``max_body_bytes`` (a larger ``Content-Length`` is refused before
  reading): :class:`ResponseTooLarge`, naming the call and the limit;
- treats a 3xx as an error naming the call and where it pointed (:func:`redirect_error`);
  redirects are never followed, so credentials never go to another URL.

Limits per API (documented in the README, "Limits on what an API may answer"):
:data:`API_LIMITS`; anything else (``--notify``) gets :data:`NOTIFY_LIMITS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from reconciler.common.words import seconds as seconds_text
from reconciler.errors import ApiError, ProviderError

__all__ = [
    "API_LIMITS",
    "NOTIFY_LIMITS",
    "Limits",
    "ResponseTooLarge",
    "limits_for",
    "redirect_error",
    "send_within",
]

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int  # the largest answer body read (decoded), in bytes
    deadline_s: float  # wall-clock limit on one attempt: connect + send + the whole answer


# List pages are kilobytes to a few MB; uploads of sequence packages (up to the package size
# limit) may take minutes on a slow link, hence the generous deadline.
API_LIMITS = {
    "signaloid": Limits(32 * MIB, 300.0),
    "steamship": Limits(32 * MIB, 300.0),
    "scramjet": Limits(32 * MIB, 300.0),
}
NOTIFY_LIMITS = Limits(1 * MIB, 30.0)  # a webhook's answer is a few bytes


def limits_for(api: str) -> Limits:
    """The limits of ``api`` (``scramjet:prod`` counts as ``scramjet``); NOTIFY_LIMITS otherwise."""
    return API_LIMITS.get(api.split(":", 1)[0], NOTIFY_LIMITS)


class ResponseTooLarge(ProviderError):
    """An answer larger than the API's body limit; it was not read further."""


async def send_within(
    client: httpx2.AsyncClient,
    method: str,
    path: str | httpx2.URL,
    limits: Limits,
    deadline_s: float,
    call: str,
    **kwargs: Any,
) -> httpx2.Response:
    """One attempt: send and read the whole answer within ``deadline_s`` and the body limit.

    Past the deadline: ``httpx2.ReadTimeout`` (the policy's timeout handling applies)."""
    request = client.build_request(method, path, **kwargs)
    try:
        async with asyncio.timeout(deadline_s):
            response = await client.send(request, stream=True)
            try:
                if _declared_within(response, limits.max_body_bytes):
                    await response.aread()  # h11 reads exactly Content-Length bytes, never more
                    return response
                body = await _read_capped(response, limits.max_body_bytes, call)
            finally:
                await response.aclose()  # also when the deadline cuts a read short
    except TimeoutError:
        raise httpx2.ReadTimeout(
            f"no complete answer within {seconds_text(deadline_s)}, the deadline of one attempt",
            request=request,
        ) from None
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
    return httpx2.Response(
        response.status_code, headers=headers, content=body, request=request, extensions=response.extensions
    )


def _declared_within(response: httpx2.Response, limit: int) -> bool:
    """The common case, read without streaming: an unencoded body whose ``Content-Length`` is
    within the limit (what arrives is then exactly that long). A compressed or chunked body, or
    one declared too large, takes the streaming path, which counts decoded bytes as they come."""
    headers = response.headers
    declared = headers.get("content-length", "")
    return (
        declared.isdigit()
        and int(declared) <= limit
        and headers.get("content-encoding", "identity").lower() == "identity"
        and "transfer-encoding" not in headers
    )


# Describe the body as sent; what we hand on is decoded and whole.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def _read_capped(response: httpx2.Response, limit: int, call: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(
            f"{call}: the answer is {int(declared):,} bytes (Content-Length), over the {_size(limit)} "
            "limit for this API; not read"
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise ResponseTooLarge(
                f"{call}: the answer is larger than the {_size(limit)} limit for this API; "
                f"stopped reading after {total:,} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n:,} bytes"


def redirect_error(response: httpx2.Response, call: str, scrub: Callable[[str], str]) -> ApiError:
    """A 3xx as the error it is for an API: naming the call and where it pointed (without the
    credentials or query of that URL); the redirect is not followed."""
    status = response.status_code
    location = response.headers.get("location")
    where = f"redirect to {shown_location(location, scrub)}" if location else "redirect without a Location"
    return ApiError(status, f"{where}; not followed (an API call is never redirected)", call)


def shown_location(location: str, scrub: Callable[[str], str]) -> str:
    """``https://host/path?…``: no user, password or query values; known secrets scrubbed."""
    parts = urlsplit(location)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    origin = f"{parts.scheme}://{host}{port}" if parts.scheme else ""
    query = "?…" if parts.query else ""
    return scrub(f"{origin}{parts.path}{query}")[:300] or "(empty)"
