"""The Signaloid Cloud Compute Engine provider: cores, repositories, webhooks, cloud-storage files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from reconciler.errors import BadRequest, ProviderError
from reconciler.kinds import cores, files, repositories, webhooks
from reconciler.providers.http import ApiClient, decode_json, in_turns, next_page, paged, parsing
from reconciler.providers.signaloid.parse import (
    REMOVABLE,
    core_body,
    parse_core,
    parse_repository,
    parse_webhook,
    repository_body,
    webhook_body,
)
from reconciler.providers.signaloid.storage import CloudStorage
from reconciler.providers.stats import CallStats
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["SignaloidProvider"]

# The kinds this provider serves, as their own modules define them (no registry lookup).
_KINDS = {k.name: k for k in (cores.KIND, repositories.KIND, webhooks.KIND, files.KIND)}
_PATHS = {"cores": "/cores", "repositories": "/repositories", "webhooks": "/webhooks"}
_PARSERS: dict[str, Callable[[Any], LiveObject]] = {
    "cores": parse_core,
    "repositories": parse_repository,
    "webhooks": parse_webhook,
}


class SignaloidProvider:
    name = "signaloid"

    def __init__(
        self,
        http: ApiClient,
        *,
        storage: CloudStorage | None = None,
        shared: Any = None,
        account: tuple[str, str] | None = None,
    ) -> None:
        """``storage``: cloud storage (``storage.py``), needed for ``files``. ``shared`` (a fleet
        run's ``read_once``) and ``account`` (endpoint, key digest): stacks of one account share the
        default cores' list, which is the same for all of them, in a run."""
        self.http = http
        self.storage = storage
        self._shared, self._account = shared, account

    def stats(self) -> CallStats:
        return CallStats() + self.http.stats  # a copy: the client's own counters go on counting

    async def aclose(self) -> None:
        await self.http.client.aclose()
        if self.storage is not None:
            await self.storage.aclose()

    def _storage(self) -> CloudStorage:
        if self.storage is None:
            raise ProviderError("signaloid: this provider was built without cloud storage")
        return self.storage

    # --- reading -------------------------------------------------------------------------
    async def _pages(
        self,
        path: str,
        items_key: str,
        on_page: Callable[[list[Any]], Awaitable[None]],
        params: Mapping[str, str] | None = None,
    ) -> None:
        """Every page of a ``startKey``/``ContinuationKey`` paged list, to ``on_page`` as it comes."""
        call = f"signaloid GET {path}"
        seen: set[str] = set()

        async def fetch(token: str | None) -> tuple[list[Any], str | None]:
            query = dict(params or {}) | ({"startKey": token} if token else {})
            page = await self.http.json("GET", path, params=query)
            if not isinstance(page, Mapping) or not isinstance(page.get(items_key), list):
                raise ProviderError(f"{call} returned an unexpected page (no {items_key} list)")
            return page[items_key], next_page(call, page.get("ContinuationKey"), seen, "ContinuationKey")

        await paged(fetch, on_page)

    async def _list(
        self, kind: str, sink: Callable[[list[LiveObject]], None] | None = None
    ) -> list[LiveObject]:
        """Every object of ``kind``; each page is parsed, and given to ``sink``, as it comes."""
        parse, call = _PARSERS[kind], f"signaloid GET {_PATHS[kind]}"
        objects: list[LiveObject] = []

        def take(items: list[Any]) -> None:
            with parsing(call):
                parsed = [parse(item) for item in items]
            objects.extend(parsed)
            if sink is not None:
                sink(parsed)

        async def on_page(items: list[Any]) -> None:
            await in_turns(items, take)

        if kind == "webhooks":  # not paged
            body = await self.http.json("GET", "/webhooks")
            items = body.get("webhooks", body.get("Webhooks")) if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise ProviderError("signaloid GET /webhooks returned an unexpected body (no webhooks list)")
            await on_page(items)
        else:
            await self._pages(_PATHS[kind], kind.capitalize(), on_page)
        return objects

    async def _default_core_ids(self) -> set[str]:
        if self._shared is None:
            return await self._list_default_core_ids()
        key = ("signaloid default cores", *(self._account or ()))
        return set(await self._shared.read_once(key, self._list_default_core_ids))

    async def _list_default_core_ids(self) -> set[str]:
        ids: set[str] = set()

        async def on_page(items: list[Any]) -> None:
            with parsing("signaloid GET /cores?default=true"):
                ids.update(parse_core(item).remote_id for item in items)

        await self._pages("/cores", "Cores", on_page, {"default": "true"})
        return ids

    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        """Each page goes into ``live`` as it comes, and each kind is ``listed`` once complete. A
        repository may name a default core: cores and repositories are complete only with those."""
        defaults = asyncio.ensure_future(self._default_core_ids()) if "repositories" in kinds else None

        async def one(kind: str) -> None:
            if kind == "files":
                await self._storage().list(lambda objects: live.extend(kind, objects))
                live.listed(kind)
                return
            await self._list(kind, lambda objects: live.extend(kind, objects))
            if defaults is not None and kind in ("cores", "repositories"):
                live.external_ids.setdefault("cores", set()).update(await defaults)
            live.listed(kind)

        jobs: list[Any] = [one(k) for k in sorted(kinds)]  # the session passes only kinds this API owns
        await asyncio.gather(*jobs, *([defaults] if defaults is not None else []))

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
        if kind == "files":
            return await self._storage().upload(attrs)
        if kind == "cores":
            body = core_body(desired.name, attrs)
        elif kind == "repositories":
            body = repository_body(attrs)
        else:
            # POST /webhooks takes url, events and description; status is set afterwards.
            body = webhook_body(attrs, {"url", "events", "description"})
        parse = _PARSERS[kind]
        key = _KINDS[kind].natural_key(desired.name, attrs)

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
        if desired.kind == "files":  # new content: the same upload, over the old file
            return await self._storage().upload(attrs)
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
            spec = _KINDS[kind]
            if any(
                spec.normalise(f, current.attrs.get(f)) != spec.normalise(f, attrs.get(f)) for f in fields
            ):
                raise

    async def delete(self, kind: str, live: LiveObject) -> None:
        if kind == "files":  # one file, the stack's own: never a folder, never recursive
            await self.http.request("DELETE", "/files/" + quote(live.remote_id, safe="/"), ok={404})
            return
        await self.http.request("DELETE", f"{_PATHS[kind]}/{live.remote_id}", ok={404})
