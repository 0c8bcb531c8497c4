"""Redaction of what ``--debug`` logs, whichever library logs it, and of anything a server sent
that is shown to a person (:func:`excerpt`, the one rule for error bodies).

``--debug`` turns on DEBUG logging for every logger, ours and third parties' (httpcore2 prints raw
request and response headers; an API that reflects a key in a header would have it shown). So the
one handler ``--debug`` installs carries :class:`RedactingFilter`, which rewrites every record
before it is written:

- each secret the process knows (API keys and tokens handed to an HTTP client, a webhook URL's
  tokens, a DSN's password: registered with :func:`remember` where they are used) becomes ``***``;
- the value of any header or parameter whose name says it is a credential (``authorization``,
  ``x-api-key``, ``cookie``, ``token``, ``password``, ``secret`` ...) becomes ``***``, in the
  ``Name: value`` / ``name=value`` forms and in the ``(b'name', b'value')`` tuples httpcore2 logs.

A server's error body is shown only as an :func:`excerpt`: the secrets the caller knows (and those
above) scrubbed, credential values, ``Bearer``/``Basic`` tokens, a URL's user and password and its
query values removed, on one line, control characters escaped, at most ``limit`` characters. A
receiver that echoes the request (its ``Authorization`` header, the URL) shows nothing of them.

Libraries whose debug lines are raw wire data (``httpx2``, ``httpcore2``, ``hpack``, ``h11``,
``h2``) are also kept at WARNING: their lines add nothing ours do not say, redacted.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import urlsplit

__all__ = [
    "EXCERPT_LIMIT",
    "RedactingFilter",
    "enable_debug_logging",
    "excerpt",
    "redact",
    "remember",
    "safe_url",
    "scrub",
]

EXCERPT_LIMIT = 300

MIN_SECRET_LEN = 6  # shorter strings would scrub ordinary words
QUIET = ("httpx2", "httpcore2", "httpx", "httpcore", "hpack", "h11", "h2", "psycopg")

_secrets: set[str] = set()
_ordered: list[str] = []
_lock = threading.Lock()

_NAMES = (
    r"(?:authorization|proxy-authorization|x-api-key|api[-_]?key|cookie|set-cookie|[\w-]*token"
    r"|password|passwd|secret|[\w-]*-secret|x-auth[\w-]*)"
)
_TUPLE = re.compile(rf"(\(b?['\"]{_NAMES}['\"],\s*b?['\"])([^'\"]*)(['\"]\))", re.IGNORECASE)
_PAIR = re.compile(
    rf"(\b{_NAMES}['\"]?\s*[:=]\s*['\"]?)((?:bearer\s+|basic\s+|token\s+)?[^\s'\",;&)}}]+)", re.IGNORECASE
)


# scheme://[userinfo@]rest[?query]: the userinfo is dropped, each query value becomes ***.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^\s/?#@'\"<>]*@)?([^\s?#'\"<>]*)(\?[^\s#'\"<>]*)?")
_SCHEME_TOKEN = re.compile(r"\b(bearer|basic|token|digest)(\s+)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"=[^&]*")


def _url_shown(match: re.Match[str]) -> str:
    scheme, rest, query = match.group(1), match.group(2), match.group(3) or ""
    return f"{scheme}{rest}{_QUERY_VALUE.sub('=***', query)}"


def excerpt(text: str, *, secrets: Iterable[str] = (), limit: int = EXCERPT_LIMIT) -> str:
    """What a server sent (an error body, a message from it), fit to show anywhere: ``secrets`` and
    every remembered secret scrubbed *before* anything is cut (so no tail of one is left), credential
    values, ``Bearer``/``Basic`` tokens, URL userinfo and query values removed, whitespace folded to
    one line, control characters and bytes that are not UTF-8 escaped, at most ``limit`` characters."""
    from reconciler.common.escape import clip, shown

    text = text[: limit * 8]  # a body may be megabytes: only its head can be shown
    text = scrub(text, secrets)
    text = redact(text)
    text = _URL.sub(_url_shown, text)
    text = _SCHEME_TOKEN.sub(r"\1\2***", text)
    return clip(shown(" ".join(text.split())), limit)


def remember(secrets: Iterable[str]) -> None:
    """Register values that must never be logged (kept for the life of the process)."""
    with _lock:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN} - _secrets
        if new:
            _secrets.update(new)
            _ordered[:] = sorted(_secrets, key=len, reverse=True)


def safe_url(url: str) -> str:
    """``url`` for a message: without user, password, query values or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if not parts.scheme or not parts.netloc:
        return url if "@" not in url else "(a URL with credentials)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (longest first, so no tail of one is left) replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def redact(text: str) -> str:
    """``text`` with every known secret and every credential-named value replaced by ``***``."""
    text = scrub(text, _ordered)
    text = _TUPLE.sub(r"\1***\3", text)
    return _PAIR.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) redacted; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: log what we have, still redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def enable_debug_logging(stream: TextIO | None = None) -> logging.Handler:
    """DEBUG logs on stderr (or ``stream``), every record redacted; wire-level libraries kept at
    WARNING. Returns the handler it installed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
