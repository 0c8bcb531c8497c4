"""What the hub does before a route runs: the bearer token (Cloud Platform hubs) and its content
types (``@scramjet/api-server``'s mime checks: a POST/DELETE without a JSON content type, a GET whose
``Accept`` excludes JSON, an upload that is not ``application/octet-stream`` are all 400); and
around every route (:func:`hub_front`), what 0.18.7's server does for any path: CORS
(``@scramjet/host`` ``middlewares/cors.js``: ``access-control-allow-origin: *`` on every answer;
an ``OPTIONS`` preflight answered 200 with empty body) and a trailing slash ignored."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.sandbox.scramjet_profiles import Profile

__all__ = ["Handler", "guard", "hub_front"]

Handler = Callable[[Request], Awaitable[Response]]

_JSON_TYPES = ("application/json", "text/json")
_UPLOAD_TYPES = ("application/octet-stream",)


def _mime_matches(header: str | None, served: tuple[str, ...]) -> bool:
    """The hub's own mime check: absent is fine, else some listed type (wildcards allowed) must match."""
    if not header:
        return True
    for item in header.split(","):
        mime = item.split(";")[0].strip().lower()
        if mime in served:
            return True
        if "*" in mime and any(t.startswith(mime.split("*")[0]) for t in served):
            return True
    return False


def guard(handler: Handler, kind: str, token: str | None, profile: Profile) -> Handler:
    """Auth (when a token is configured), then the hub's content-type checks for this kind of route."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"message": "Forbidden"}, status_code=403)
        content_type = request.headers.get("content-type")
        if kind == "get":
            ok = _mime_matches(request.headers.get("accept"), _JSON_TYPES)
        elif kind == "op":
            ok = bool(content_type) and _mime_matches(content_type, _JSON_TYPES)
        elif kind == "upload":
            ok = _mime_matches(content_type, _UPLOAD_TYPES)
        else:  # "stream": octet-stream endpoints such as /log accept anything
            ok = True
        if not ok:  # 0.18.7 says why only in the reason phrase
            if profile.error_bodies:
                return JSONResponse({"error": "Invalid content-type"}, status_code=400)
            return Response(status_code=400)
        return await handler(request)

    return endpoint


_CORS = [(b"access-control-allow-origin", b"*")]
_PREFLIGHT = [
    *_CORS,
    (b"access-control-allow-headers", b"*"),
    (b"access-control-allow-methods", b"DELETE, POST, GET, OPTIONS"),
    (b"content-length", b"0"),
]
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def hub_front(app: ASGIApp) -> ASGIApp:
    """``app`` behind 0.18.7's front: CORS on every answer, ``OPTIONS`` 200, ``/x/`` is ``/x``."""

    async def front(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 200, "headers": _PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/")
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"

        async def cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *_CORS])
            await send(message)

        await app(scope, receive, cors)

    return front
