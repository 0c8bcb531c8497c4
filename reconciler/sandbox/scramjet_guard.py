"""What the hub checks before a route runs: the bearer token (Cloud Platform hubs) and its content
types (``@scramjet/api-server``'s mime checks: a POST/DELETE without a JSON content type, a GET whose
``Accept`` excludes JSON, an upload that is not ``application/octet-stream`` are all 400)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.sandbox.scramjet_profiles import Profile

__all__ = ["Handler", "guard"]

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
