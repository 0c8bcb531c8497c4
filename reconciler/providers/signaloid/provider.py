"""The Signaloid Cloud Compute Engine provider: cores, repositories, webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import BadRequest, ProviderError
from reconciler.kinds import get_kind
from reconciler.providers.http import ApiClient, decode_json, next_page, parsing
from reconciler.providers.signaloid.parse import (
    REMOVABLE,
    core_body,
    parse_core,
    parse_repository,
    parse_webhook,
    repository_body,
    webhook_body,
)
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["SignaloidProvider"]

_PATHS = {"cores": "/cores", "repositories": "/repositories", "webhooks": "/webhooks"}
_PARSERS: dict[str, Callable[[Any], LiveObject]] = {
    "cores": parse_core,
    "repositories": parse_repository,
    "webhooks": parse_webhook,
}


class SignaloidProvider:
    name = "signaloid"
    kinds = ("cores", "repositories", "webhooks")

    def __init__(self, http: ApiClient) -> None:
        self.http = http

    async def aclose(self) -> None:
        await self.http.client.aclose()

    # --- reading -------------------------------------------------------------------------
    async def _pages(self, path: str, items_key: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a ``startKey``/``ContinuationKey`` paged list."""
        items: list[Any] = []
        query = dict(params or {})
        seen: set[str] = set()
        while True:
            page = await self.http.json("GET", path, params=query)
            if not isinstance(page, Mapping) or not isinstance(page.get(items_key), list):
                raise ProviderError(f"signaloid GET {path} returned an unexpected page (no {items_key} list)")
            items.extend(page[items_key])
            token = next_page(f"signaloid GET {path}", page.get("ContinuationKey"), seen, "ContinuationKey")
            if token is None:
                return items
            query["startKey"] = token

    async def _list(self, kind: str) -> list[LiveObject]:
        if kind == "webhooks":
            body = await self.http.json("GET", "/webhooks")
            items = body.get("webhooks", body.get("Webhooks")) if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise ProviderError("signaloid GET /webhooks returned an unexpected body (no webhooks list)")
        else:
            items = await self._pages(_PATHS[kind], kind.capitalize())
        with parsing(f"signaloid GET {_PATHS[kind]}"):
            return [_PARSERS[kind](item) for item in items]

    async def _default_core_ids(self) -> set[str]:
        items = await self._pages("/cores", "Cores", {"default": "true"})
        with parsing("signaloid GET /cores?default=true"):
            return {parse_core(item).remote_id for item in items}

    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        wanted = [k for k in self.kinds if k in kinds]
        jobs: list[Any] = [self._list(k) for k in wanted]
        if "repositories" in kinds:  # references may name a default core
            jobs.append(self._default_core_ids())
        results = await asyncio.gather(*jobs)
        for objects in results[: len(wanted)]:
            for obj in objects:
                live.add(obj)
        if "repositories" in kinds:
            live.external_ids.setdefault("cores", set()).update(results[-1])

    async def _find(self, kind: str, key: tuple[str, ...]) -> LiveObject | None:
        """The live object with this natural key, if any.

        Only asked after a create whose outcome is unknown. The plan chose "create" because no
        object had this key, and keys are unique within a stack, so one found now is ours.
        """
        for obj in await self._list(kind):
            if obj.key == key:
                return obj
        return None

    # --- writing -------------------------------------------------------------------------
    async def create(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        kind = desired.kind
        if kind == "cores":
            body = core_body(desired.name, attrs)
        elif kind == "repositories":
            body = repository_body(attrs)
        else:
            # POST /webhooks takes url, events and description; status is set afterwards.
            body = webhook_body(attrs, {"url", "events", "description"})
        parse = _PARSERS[kind]
        key = get_kind(kind).natural_key(desired.name, attrs)

        async def find_existing() -> LiveObject | None:
            return await self._find(kind, key)

        result = await self.http.create("POST", _PATHS[kind], json=body, find_existing=find_existing)
        obj = (
            result
            if isinstance(result, LiveObject)
            else parse(decode_json(result, f"signaloid POST {_PATHS[kind]}"))
        )
        if kind == "webhooks" and attrs.get("status") and obj.attrs.get("status") != attrs["status"]:
            response = await self.http.request(
                "PUT", f"/webhooks/{obj.remote_id}", json={"status": attrs["status"]}
            )
            obj = parse_webhook(decode_json(response, "signaloid PUT /webhooks/{id}"))
        return obj

    async def update(
        self, desired: Desired, live: LiveObject, attrs: Mapping[str, Any], changed: set[str]
    ) -> LiveObject | None:
        kind, path = desired.kind, f"{_PATHS[desired.kind]}/{live.remote_id}"
        if kind == "cores":
            # PATCH /cores takes all six fields.
            full = {**live.attrs, **{k: v for k, v in attrs.items() if v is not None}}
            await self._patch(kind, path, attrs, changed, json=core_body(desired.name, full))
            return None
        if kind == "webhooks":
            response = await self.http.request("PUT", path, json=webhook_body(attrs, changed))
            return parse_webhook(decode_json(response, "signaloid PUT /webhooks/{id}"))
        cleared = {f for f in changed if attrs.get(f) is None and f in REMOVABLE}
        to_set = changed - cleared
        if to_set:
            await self._patch(kind, path, attrs, to_set, json=repository_body(attrs, to_set))
        if cleared:
            # `remove=` cannot be combined with body fields: a call of its own.
            params = [("remove", REMOVABLE[f]) for f in sorted(cleared)]
            await self._patch(kind, path, attrs, cleared, params=params)
        return None

    async def _patch(
        self, kind: str, path: str, attrs: Mapping[str, Any], fields: set[str], **kwargs: Any
    ) -> None:
        """PATCH, retried as idempotent. The API answers 400 "must change at least one field" when
        an earlier attempt whose response was lost already made the change: then read the object
        back, and if it holds what we sent, that is success."""
        try:
            await self.http.request("PATCH", path, idempotent=True, **kwargs)
        except BadRequest:
            current = _PARSERS[kind](await self.http.json("GET", path))
            spec = get_kind(kind)
            if any(
                spec.normalise(f, current.attrs.get(f)) != spec.normalise(f, attrs.get(f)) for f in fields
            ):
                raise

    async def delete(self, kind: str, live: LiveObject) -> None:
        await self.http.request("DELETE", f"{_PATHS[kind]}/{live.remote_id}", ok={404})
