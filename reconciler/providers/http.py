"""The one HTTP policy every provider goes through.

- timeouts (connect/read) from the provider's ``http`` settings;
- retries with exponential backoff and full jitter on 429, 500, 502, 503, 504, connection
  errors and read timeouts, honouring ``Retry-After`` (seconds or HTTP-date), within a cap
  on the total time spent on one call;
- non-idempotent calls (creates) are retried only when the request surely did not land
  (connection refused, 429). Otherwise :class:`UncertainOutcome` is raised, so the provider
  can look the object up by natural key before trying again;
- an optional client-side rate limit (token bucket);
- per attempt, a wall-clock deadline and a body size cap, and no redirects: a 3xx is an error
  (:mod:`reconciler.providers.limits`);
- adaptive concurrency per endpoint (:mod:`reconciler.providers.concurrency`): calls wait for a
  slot of their endpoint's limit, which grows while latency is flat and falls on 429/503;
  a ``Retry-After`` pauses the endpoint's whole queue;
- error responses become typed :mod:`reconciler.errors` values carrying the status and the
  API's own message; no message ever contains a credential (they are scrubbed).

Sleep, clock and randomness are injectable so all of this is tested without waiting.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from reconciler.common.redact import EXCERPT_LIMIT, excerpt, remember, safe_url, scrub
from reconciler.errors import ApiError, ProviderError, RateLimited, TransportError, api_error_for_status
from reconciler.providers.concurrency import EndpointLimiter, Signal, limiter_for
from reconciler.providers.limits import Limits, limits_for, redirect_error, send_within
from reconciler.providers.loop_local import loop_local
from reconciler.providers.settings import HttpSettings
from reconciler.providers.stats import CallStats

__all__ = [
    "MAX_PAGES",
    "ApiClient",
    "CallStats",
    "UncertainOutcome",
    "check_endpoint",
    "in_turns",
    "next_page",
    "paged",
    "parse_retry_after",
    "parsing",
]

log = logging.getLogger("reconciler.http")

BASE_DELAY_S = 0.25
MAX_DELAY_S = 20.0
_TAGS = re.compile(r"<[^>]+>")
# A pager that keeps handing out new tokens is stopped here (100,000s of objects at usual page sizes).
MAX_PAGES = 10_000


class UncertainOutcome(TransportError):
    """A non-idempotent request failed in a way that does not say whether it took effect."""


class TokenBucket:
    def __init__(
        self, rate: float, clock: Callable[[], float], sleep: Callable[[float], Awaitable[Any]]
    ) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.clock, self.sleep = self.capacity, clock, sleep
        self.updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await self.sleep((1 - self.tokens) / self.rate)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: either delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_endpoint(api: str, url: str, allow_insecure_http: bool) -> None:
    """TLS is the rule: plain http:// only to loopback, or when the user opts in explicitly."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise ProviderError(f"{api}: endpoint {safe_url(url)!r} must be an http:// or https:// URL")
    host = (parts.hostname or "").lower()
    if _is_loopback(host):
        return
    if not allow_insecure_http:
        raise ProviderError(
            f"{api}: refusing plain http:// to {host} (credentials would cross the network unencrypted); "
            f"use https://, or set providers.{api}.http.allow_insecure_http: true"
        )


@functools.lru_cache(maxsize=256)
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiClient:
    """An ``httpx2.AsyncClient`` wrapped in the shared policy, for one API."""

    def __init__(
        self,
        api: str,
        client: httpx2.AsyncClient,
        settings: HttpSettings | None = None,
        *,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        limits: Limits | None = None,
    ) -> None:
        self.api = api
        self.limits = limits or limits_for(api)
        self.client = client
        self.settings = settings or HttpSettings()
        self.secrets = [s for s in secrets if s]
        remember(self.secrets)  # kept out of --debug logs, whichever library logs them
        self.sleep, self.clock, self.rng = sleep, clock, rng
        self.stats = CallStats()
        rate = self.settings.rate_limit_per_s
        self.bucket = TokenBucket(rate, clock, sleep) if rate else None
        self._limiter: EndpointLimiter | None = None

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        ok: Iterable[int] = (),
        **kwargs: Any,
    ) -> httpx2.Response:
        """Send with retries. Statuses in ``ok`` are returned instead of raised (e.g. 404 on delete)."""
        if idempotent is None:
            idempotent = method.upper() not in ("POST", "PATCH")
        call = self.scrub(f"{self.api} {method.upper()} {path}")  # a path may hold a token (webhook URLs)
        target = merged_url(self.client, path, kwargs)
        ok = set(ok)
        started = self.clock()
        attempt = 0
        while True:
            if self.bucket is not None:
                await self.bucket.acquire()
            self.stats.requests += 1
            t0 = self.clock()
            try:
                deadline = self._attempt_deadline(attempt, started)
                response, retry_after = await self._send(method, target, deadline, call, **kwargs)
            except httpx2.HTTPError as exc:
                surely_not_sent = isinstance(
                    exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout
                )
                where = (
                    f" at {self._endpoint()}"
                    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout)
                    else ""
                )
                error: ProviderError = TransportError(
                    self.scrub(f"{call}: {_describe_transport(exc)}{where}")
                )
                if not idempotent and not surely_not_sent:
                    raise UncertainOutcome(
                        self.scrub(
                            f"{call}: {_describe_transport(exc)}; the request may or may not have "
                            "taken effect"
                        )
                    ) from exc
                delay = self._backoff(attempt)
                cause: BaseException = exc
            else:
                status = response.status_code
                self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
                log.debug("%s -> %s in %.0f ms", call, status, (self.clock() - t0) * 1000)
                if 300 <= status < 400 and status not in ok:
                    raise redirect_error(response, call, self.scrub)
                if status < 400 or status in ok:
                    return response
                error = api_error_for_status(status, error_message(response, self.secrets), call, retry_after)
                if status == 429:
                    self.stats.rate_limited += 1
                if not error.retryable:
                    raise error
                if not idempotent and status != 429:
                    message = f"{call}: HTTP {status} ({error.message}); it may or may not have taken effect"
                    raise UncertainOutcome(message) from error
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                cause = error
            attempt += 1
            elapsed = self.clock() - started
            if attempt > self.settings.max_retries or elapsed + delay > self.settings.retry_budget_s:
                raise _gave_up(error, attempt) from cause
            self.stats.retries += 1
            log.debug("%s: retry %d in %.2fs after %s", call, attempt, delay, error)
            await self.sleep(delay)

    @property
    def limiter(self) -> EndpointLimiter | None:
        """This endpoint's shared adaptive limit (None when the settings turn it off)."""
        if self._limiter is None and self.settings.adaptive_concurrency:
            key = f"{self.api} {self.client.base_url}"
            self._limiter = limiter_for(key, clock=self.clock, sleep=self.sleep)
        return self._limiter

    async def _send(
        self, method: str, path: str | httpx2.URL, deadline: float, call: str, **kwargs: Any
    ) -> tuple[httpx2.Response, float | None]:
        """One attempt, holding a slot of the endpoint's adaptive limit while it is in flight.
        Returns the response and its ``Retry-After`` in seconds (parsed once: the pause of the
        endpoint's queue and this call's retry wait for the same moment)."""
        limiter = self.limiter
        permit = None if limiter is None else await limiter.acquire()
        try:
            response = await send_within(self.client, method, path, self.limits, deadline, call, **kwargs)
        except BaseException:
            if permit is not None:
                permit.release(Signal.FAILED)
            raise
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after")) if status >= 400 else None
        if permit is not None:
            signal = {429: Signal.THROTTLED, 503: Signal.OVERLOADED}.get(status, Signal.OK)
            permit.release(signal, retry_after)
        return response, retry_after

    async def create(
        self, method: str, path: str, *, find_existing: Callable[[], Awaitable[Any]], **kwargs: Any
    ) -> httpx2.Response | Any:
        """A non-idempotent create, made safe to retry.

        When an attempt's outcome is uncertain (the response was lost, or a 5xx), look the object
        up by natural key (``find_existing``) before sending it again: return what was found
        instead of creating a duplicate. Returns the response, or whatever ``find_existing`` found.
        """
        started = self.clock()
        attempt = 0
        while True:
            try:
                return await self.request(method, path, idempotent=False, **kwargs)
            except UncertainOutcome as exc:
                attempt += 1
                delay = self._backoff(attempt)
                if (
                    attempt > self.settings.max_retries
                    or self.clock() - started + delay > self.settings.retry_budget_s
                ):
                    raise TransportError(f"{exc} (gave up after {attempt} attempts)") from exc
                self.stats.retries += 1
                await self.sleep(delay)
                existing = await find_existing()
                if existing is not None:
                    log.debug(
                        "%s: the earlier attempt had landed; not sending it again",
                        self.scrub(f"{self.api} {method} {path}"),
                    )
                    return existing

    def _endpoint(self) -> str:
        """scheme://host:port of the API, for messages (no path, query or credentials)."""
        url = self.client.base_url
        return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")

    def _attempt_deadline(self, attempt: int, started: float) -> float:
        """The first attempt gets the whole per-attempt deadline; a retry never runs past the
        call's retry budget either."""
        if attempt == 0:
            return self.limits.deadline_s
        remaining = self.settings.retry_budget_s - (self.clock() - started)
        return max(0.001, min(self.limits.deadline_s, remaining))

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return self.rng() * min(MAX_DELAY_S, BASE_DELAY_S * (2**attempt))

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return decode_json(response, f"{self.api} {method.upper()} {path}")


_URLS: OrderedDict[tuple[Any, ...], httpx2.URL] = OrderedDict()
_URLS_KEPT = 1024


def merged_url(client: httpx2.AsyncClient, path: str, kwargs: dict[str, Any]) -> str | httpx2.URL:
    """The absolute URL httpx2 builds for ``path`` and ``kwargs["params"]`` (taken out of
    ``kwargs``), kept for the next call with the same base URL, path and query: httpx2 parses and
    checks a URL character by character, ~10% of a fleet's CPU when every stack lists the same
    paths of one endpoint. The first call's URL is httpx2's own, so every later one is the same.
    A query that cannot be a key (lists as values, say) is left to httpx2 each time."""
    params = kwargs.get("params")
    try:
        key = (str(client.base_url), path, tuple(params.items()) if params else ())
        url = _URLS.get(key)
    except (TypeError, AttributeError):
        return path
    kwargs.pop("params", None)
    if url is None:
        url = client.build_request("GET", path, params=params).url
        _URLS[key] = url
        if len(_URLS) > _URLS_KEPT:
            _URLS.popitem(last=False)
    return url


def _gave_up(error: ProviderError, attempts: int) -> ProviderError:
    if isinstance(error, RateLimited):
        return RateLimited(error.status, f"{error.message} (gave up after {attempts} attempts)", error.call)
    if isinstance(error, ApiError):
        return type(error)(error.status, f"{error.message} (gave up after {attempts} attempts)", error.call)
    return TransportError(f"{error} (gave up after {attempts} attempts)")


def _describe_transport(exc: httpx2.HTTPError) -> str:
    kinds = {
        httpx2.ConnectTimeout: "connection timed out",
        httpx2.ReadTimeout: "read timed out",
        httpx2.WriteTimeout: "write timed out",
        httpx2.PoolTimeout: "no free connection",
        httpx2.ConnectError: "cannot connect",
        httpx2.RemoteProtocolError: "the server closed the connection",
        httpx2.ReadError: "connection lost while reading",
    }
    for cls, text in kinds.items():
        if isinstance(exc, cls):
            detail = str(exc)
            return f"{text} ({detail})" if detail else text
    return f"{type(exc).__name__}: {exc}"


def error_message(response: httpx2.Response, secrets: Iterable[str] = ()) -> str:
    """The API's own message from an error response, whatever its shape, as a bounded, redacted
    ``excerpt`` (``secrets`` scrubbed before it is cut)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to decode
        text = _TAGS.sub(" ", response.text[: EXCERPT_LIMIT * 8] or "")
        return excerpt(text, secrets=secrets) or (response.reason_phrase or "no message")
    if isinstance(body, dict):
        status = body.get("status") if isinstance(body.get("status"), dict) else None
        for source in (body, status or {}):
            for key in ("message", "error", "statusMessage", "detail"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    # Steamship's failed status: statusMessage [statusCode] (statusSuggestion).
                    code, suggestion = source.get("statusCode"), source.get("statusSuggestion")
                    if isinstance(code, str) and code:
                        value = f"{value} [{code}]"
                    if isinstance(suggestion, str) and suggestion:
                        value = f"{value} ({suggestion})"
                    return excerpt(value, secrets=secrets)
    return excerpt(str(body), secrets=secrets)


def decode_json(response: httpx2.Response, call: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass  # maybe JSON orjson does not take (NaN, huge integers); the json module decides
    try:
        return response.json()
    except RecursionError:
        raise ProviderError(f"{call} returned JSON nested too deeply to read") from None
    except ValueError:
        ctype = response.headers.get("content-type", "no content type")
        snippet = excerpt(_TAGS.sub(" ", response.text[: EXCERPT_LIMIT * 8]), limit=200)
        raise ProviderError(
            f"{call} returned a body that is not JSON ({excerpt(ctype, limit=100)}, "
            f"HTTP {response.status_code}): {snippet!r}"
        ) from None


def next_page(call: str, token: Any, seen: set[str], name: str = "continuation token") -> str | None:
    """The token of the next page of a paged list, or None on the last page. A token that is not
    text, comes back again, or never stops coming is the API's error, not an endless loop."""
    if not token:
        return None
    if not isinstance(token, str) or token in seen:
        raise ProviderError(f"{call} returned a repeating {name}")
    if len(seen) + 1 >= MAX_PAGES:
        raise ProviderError(f"{call} still returned a {name} after {MAX_PAGES} pages; giving up")
    seen.add(token)
    return token


async def paged(
    fetch: Callable[[str | None], Awaitable[tuple[list[Any], str | None]]],
    on_page: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """Every page of a paged list, each handed to ``on_page`` (in order) as it arrives.

    ``fetch(token)`` returns one page's items and the next page's token (None on the last page).
    The next page is requested at once, in this task; ``on_page`` runs beside it, so handling a
    page overlaps the wait for the next one instead of delaying its request.
    """
    handling: asyncio.Future[None] | None = None
    try:
        items, token = await fetch(None)
        while True:
            handling = asyncio.ensure_future(_after(handling, on_page, items))
            if token is None:
                break
            items, token = await fetch(token)
        await handling
    finally:
        if handling is not None:
            if not handling.done():
                handling.cancel()
            elif not handling.cancelled():
                handling.exception()  # seen here; the error being raised is the one to report


async def _after(
    previous: asyncio.Future[None] | None, on_page: Callable[[list[Any]], Awaitable[None]], items: list[Any]
) -> None:
    if previous is not None:
        await previous
    await on_page(items)


async def in_turns(items: list[Any], handle: Callable[[list[Any]], None], size: int = 50) -> None:
    """``handle(chunk)`` for each ``size`` items, one chunk at a time across all tasks.

    Parsing (and planning) a page is pure CPU. Done in one go, or by several lists at once, it
    would hold up every request waiting to be sent and every answer waiting to be read, for the
    whole of it. Here the whole event loop runs at most one chunk per turn (a fair lock, then a
    yield), so I/O goes first and this work fills the time spent waiting for the network."""
    turn = loop_local().turn
    for start in range(0, len(items), size):
        async with turn:
            await asyncio.sleep(0)
            handle(items[start : start + size])


@contextmanager
def parsing(call: str) -> Iterator[None]:
    """Name the call whose response a (pure, call-agnostic) parse function rejected."""
    try:
        yield
    except ProviderError as exc:
        if type(exc) is not ProviderError or call in str(exc):
            raise
        api = call.split(" ", 1)[0].split(":", 1)[0]
        raise ProviderError(f"{call}: {str(exc).removeprefix(api + ' ')}") from exc
