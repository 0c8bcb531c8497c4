"""``drift --notify URL``: POST the drift report (JSON) to a webhook.

The report is the plan JSON plus ``drifted`` (bool), ``generated_at`` (UTC, ISO 8601) and a
one-line ``text`` (which chat webhooks such as Slack's display). It goes through the shared HTTP
policy (a client built by ``providers/connect.py``, as every provider's): timeouts, retries with
backoff on 429/5xx/timeouts (a report delivered twice is harmless, so the POST counts as
idempotent), TLS unless the host is loopback.

Webhook URLs often carry a token in their path or query (Slack, Teams, Discord), so the URL is
never printed whole: messages show its scheme and host only (:func:`shown_url`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.common.escape import md_text
from reconciler.common.redact import scrub
from reconciler.common.words import plural
from reconciler.errors import ApiError, ProviderError, ReconcilerError
from reconciler.providers.connect import Endpoint, Transport, api_client
from reconciler.providers.http import check_endpoint
from reconciler.providers.settings import HttpSettings

__all__ = ["NotifyError", "drift_report", "notify", "shown_url"]

SETTINGS = HttpSettings(timeout_s=10.0, max_retries=3, retry_budget_s=30.0)


class NotifyError(ReconcilerError):
    """The report could not be delivered."""


def shown_url(url: str) -> str:
    """``https://hooks.slack.com/…``: scheme and host only (never credentials, path or query)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if _safe_port(parts) else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme or '?'}://{host}{port}{rest}"


def _safe_port(parts: Any) -> int | None:
    try:
        return int(parts.port) if parts.port else None
    except ValueError:
        return None


def drift_report(
    plan_doc: Mapping[str, Any], *, drifted: bool, now: datetime | None = None
) -> dict[str, Any]:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pending = [c for c in plan_doc.get("changes", []) if c["pending"]]
    if drifted:
        addresses = ", ".join(md_text(c["address"]) for c in pending[:10])
        more = f" and {len(pending) - 10} more" if len(pending) > 10 else ""
        differ = "differs" if len(pending) == 1 else "differ"
        text = (
            f"reconciler drift: {plural(len(pending), 'resource')} {differ} from the configuration: "
            f"{addresses}{more}"
        )
    else:
        text = "reconciler drift: in sync, live state matches the configuration"
    return {**plan_doc, "drifted": drifted, "generated_at": stamp, "text": text}


async def notify(
    url: str,
    report: Mapping[str, Any],
    *,
    transport: Transport | None = None,
    settings: HttpSettings = SETTINGS,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """POST ``report`` to ``url``; NotifyError (naming only scheme and host) when it fails."""
    shown = shown_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyError(f"--notify needs an http:// or https:// URL, got {shown}")
    base = f"{parts.scheme}://{parts.netloc}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    secrets = _secrets_of(url)
    try:
        check_endpoint("notify", base, settings.allow_insecure_http)
    except ProviderError as exc:
        raise NotifyError(f"not sending the drift report to {shown}: {scrub(str(exc), secrets)}") from None
    api = api_client("notify", Endpoint(base, transport), settings, secrets=secrets, sleep=sleep)
    try:
        await api.request("POST", target, idempotent=True, json=dict(report))
    except ApiError as exc:
        message = scrub(exc.message, secrets)
        raise NotifyError(
            f"could not send the drift report to {shown}: HTTP {exc.status} ({message})"
        ) from None
    except ProviderError as exc:
        raise NotifyError(f"could not send the drift report to {shown}: {scrub(str(exc), secrets)}") from None
    finally:
        await api.client.aclose()


def _secrets_of(url: str) -> list[str]:
    """Every part of the URL that may be (or hold) a token, longest first: the whole URL, the
    credentials, the path and each of its tails (``T0/B1/xyz``, ``B1/xyz``, ``xyz``), the query
    and each of its values, the user and password (decoded, and as basic auth sends them). Short
    pieces (under 6 characters) would scrub ordinary words."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    tails = ["/".join(segments[i:]) for i in range(len(segments))]
    values = [v for pair in parts.query.split("&") for v in pair.split("=", 1)[1:]]
    candidates = {url, parts.netloc, parts.path, parts.query, *tails, *values}
    candidates |= {parts.username or "", parts.password or ""}
    if parts.username or parts.password:  # what basic auth sends, should a receiver echo it
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        candidates.add(base64.b64encode(pair.encode()).decode())
        candidates |= {unquote(parts.username or ""), unquote(parts.password or "")}
    return sorted(
        (c for c in candidates if c and (len(c) >= 6 or c in (parts.password, parts.username))),
        key=len,
        reverse=True,
    )
