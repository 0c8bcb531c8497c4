"""The Steamship engine provider: workspaces and package instances.

Every call is ``POST {base}{operation}`` with a camelCase body; the workspace an instance call
acts in travels in ``X-Workspace-Handle`` / ``X-Workspace-Id``. A body with a ``status`` is a
task: it is polled (``task/status``) until it settles, within ``wait_timeout_s``. A new package
instance is polled (``package/instance/get`` by handle + workspace id, as the official client looks
instances up) until its ``initStatus`` leaves ``initializing``;
a failed init raises :class:`~reconciler.errors.CreatedUnusable` carrying the instance, so the
engine records it and the next plan replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reconciler.errors import CreatedUnusable, NotFound, ProviderError
from reconciler.providers.http import ApiClient, decode_json, in_turns, next_page, paged, parsing
from reconciler.providers.stats import CallStats
from reconciler.providers.steamship.parse import (
    instance_body,
    is_task,
    parse_instance,
    parse_workspace,
    status_text,
    unwrap,
)
from reconciler.values import Desired, LiveObject, LiveState, Ref

__all__ = ["SteamshipProvider"]

PAGE_SIZE = 100
FIRST_POLL_S = 0.1
MAX_POLL_S = 1.0  # the official client polls every second


class SteamshipProvider:
    name = "steamship"

    def __init__(self, http: ApiClient, wait_timeout_s: float = 180.0) -> None:
        self.http = http
        self.wait_timeout_s = wait_timeout_s

    def stats(self) -> CallStats:
        return CallStats() + self.http.stats  # a copy: the client's own counters go on counting

    async def aclose(self) -> None:
        await self.http.client.aclose()

    # --- transport -----------------------------------------------------------------------
    async def _call(
        self,
        operation: str,
        body: Mapping[str, Any],
        *,
        workspace: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """POST one operation; return its ``data``, waiting for the task if the engine answers with one."""
        call = f"steamship POST {operation}"
        response = await self.http.request(
            "POST", operation, json=dict(body), headers=dict(workspace or {}), idempotent=idempotent
        )
        return await self._settle(decode_json(response, call), call)

    async def _settle(self, body: Any, call: str) -> Any:
        if not is_task(body):
            return unwrap(body, call)
        started, delay = self.http.clock(), FIRST_POLL_S
        while True:
            status = body["status"]
            state = status.get("state")
            if state == "succeeded":
                return unwrap(body, call)
            if state == "failed":
                raise ProviderError(f"{call}: the engine's task failed: {status_text(status)}")
            task_id = status.get("taskId")
            if not task_id:
                raise ProviderError(f"{call} returned a task in state {state!r} without a taskId")
            if self.http.clock() - started + delay > self.wait_timeout_s:
                raise ProviderError(
                    f"{call}: task {task_id} still {state} after {self.wait_timeout_s:g}s; it may yet finish"
                )
            await self.http.sleep(delay)
            delay = min(MAX_POLL_S, delay * 2)
            response = await self.http.request("POST", "task/status", json={"taskId": task_id})
            body = decode_json(response, "steamship POST task/status")
            if not is_task(body):
                raise ProviderError(f"steamship POST task/status returned no status: {str(body)[:200]!r}")

    async def _pages(
        self,
        operation: str,
        items_key: str,
        body: Mapping[str, Any],
        on_page: Callable[[list[Any]], Awaitable[None]],
    ) -> None:
        """Every page of a ``pageToken``/``nextPageToken`` paged list, to ``on_page`` as it comes."""
        call = f"steamship POST {operation}"
        seen: set[str] = set()

        async def fetch(token: str | None) -> tuple[list[Any], str | None]:
            request = {**body, "pageSize": PAGE_SIZE} | ({"pageToken": token} if token else {})
            page = await self._call(operation, request)
            if not isinstance(page, Mapping) or not isinstance(page.get(items_key), list):
                raise ProviderError(f"{call} returned an unexpected page (no {items_key})")
            return page[items_key], next_page(call, page.get("nextPageToken"), seen, "nextPageToken")

        await paged(fetch, on_page)

    # --- reading -------------------------------------------------------------------------
    async def _workspaces(self, sink: Callable[[list[LiveObject]], None]) -> None:
        def take(items: list[Any]) -> None:
            with parsing("steamship POST workspace/list"):
                sink([parse_workspace(p) for p in items])

        async def on_page(items: list[Any]) -> None:
            await in_turns(items, take)

        await self._pages("workspace/list", "workspaces", {}, on_page)

    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        """Both kinds, always: deleting a workspace must see the instances inside it.

        An instance names its workspace by handle (``workspaceHandle``) and by id; one listed
        without the handle waits for the workspaces' list to learn it."""
        handles: dict[str, str] = {}
        waiting: list[Any] = []  # instances without a handle, until the workspaces are in

        def add_workspaces(objects: list[LiveObject]) -> None:
            handles.update((ws.remote_id, ws.name) for ws in objects)
            live.extend("workspaces", objects)

        def add_instances(payloads: list[Any]) -> None:
            with parsing("steamship POST package/instance/list"):
                live.extend("package_instances", [parse_instance(p, handles) for p in payloads])

        def take_instances(items: list[Any]) -> None:
            ready: list[Any] = []
            for payload in items:
                has_handle = isinstance(payload, dict) and payload.get("workspaceHandle")
                (ready if has_handle else waiting).append(payload)
            add_instances(ready)

        async def on_instance_page(items: list[Any]) -> None:
            await in_turns(items, take_instances)

        async def workspaces() -> None:
            await self._workspaces(add_workspaces)
            live.listed("workspaces")

        listing_workspaces = asyncio.ensure_future(workspaces())
        try:
            body = {"acrossWorkspaces": True, "includeWorkspace": True}
            await self._pages("package/instance/list", "packageInstances", body, on_instance_page)
            await listing_workspaces
        finally:
            if not listing_workspaces.done():
                listing_workspaces.cancel()
        add_instances(waiting)
        live.listed("package_instances")

    async def _get_instance(self, workspace: Mapping[str, str], body: Mapping[str, str]) -> LiveObject | None:
        try:
            data = await self._call("package/instance/get", body, workspace=workspace)
        except NotFound:
            return None
        return parse_instance(_field(data, "packageInstance"))

    async def _get_workspace(self, handle: str) -> LiveObject | None:
        try:
            data = await self._call("workspace/get", {"handle": handle})
        except NotFound:
            return None
        return parse_workspace(_field(data, "workspace"))

    # --- writing -------------------------------------------------------------------------
    async def create(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        if desired.kind == "workspaces":
            return await self._create_workspace(desired.name)
        return await self._create_instance(desired, attrs)

    async def _create_workspace(self, handle: str) -> LiveObject:
        async def find_existing() -> LiveObject | None:
            return await self._get_workspace(handle)

        body = {"handle": handle, "fetchIfExists": False}
        result = await self.http.create("POST", "workspace/create", json=body, find_existing=find_existing)
        if isinstance(result, LiveObject):
            return result
        call = "steamship POST workspace/create"
        return parse_workspace(_field(await self._settle(decode_json(result, call), call), "workspace"))

    async def _create_instance(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        ws = attrs["workspace"]
        ws_handle = ws.name if isinstance(ws, Ref) else str(ws)
        header = {"X-Workspace-Handle": ws_handle}

        async def find_existing() -> LiveObject | None:
            return await self._get_instance(header, {"handle": desired.name})

        call = "steamship POST package/instance/create"
        result = await self.http.create(
            "POST",
            "package/instance/create",
            json=instance_body(desired.name, attrs),
            headers=header,
            find_existing=find_existing,
        )
        if isinstance(result, LiveObject):
            obj = result
        else:
            data = await self._settle(decode_json(result, call), call)
            obj = parse_instance(_field(data, "packageInstance"))
        return await self._wait_for_init(obj)

    async def _wait_for_init(self, obj: LiveObject) -> LiveObject:
        started, delay = self.http.clock(), FIRST_POLL_S
        header = {"X-Workspace-Id": obj.extra.get("workspace_id", "")}
        while obj.extra.get("init_status") == "initializing":
            if self.http.clock() - started + delay > self.wait_timeout_s:
                raise CreatedUnusable(
                    f"the package instance was created but is still initializing after "
                    f"{self.wait_timeout_s:g}s",
                    obj,
                )
            await self.http.sleep(delay)
            delay = min(MAX_POLL_S, delay * 2)
            # By handle in its workspace, the one lookup the official client makes (by id is inferred).
            found = await self._get_instance(header, {"handle": obj.name})
            if found is None or found.remote_id != obj.remote_id:
                now = "is gone" if found is None else f"is now {found.remote_id}"
                raise ProviderError(
                    f"package instance {obj.name!r} ({obj.remote_id}) {now}: "
                    "it vanished while it was initializing"
                )
            obj = found
        if obj.extra.get("init_status") == "failed":
            message = obj.extra.get("init_message") or "no message from the engine"
            raise CreatedUnusable(f"the package instance's initialisation failed: {message}", obj)
        return obj

    async def update(
        self, desired: Desired, live: LiveObject, attrs: Mapping[str, Any], changed: set[str]
    ) -> LiveObject | None:
        # Every package instance field forces a replacement and workspaces have none: never planned.
        raise ProviderError(f"{desired.address}: steamship has no update call for {desired.kind}")

    async def delete(self, kind: str, live: LiveObject) -> None:
        try:
            if kind == "workspaces":
                await self._call("workspace/delete", {"id": live.remote_id})
            else:
                header = {"X-Workspace-Id": live.extra.get("workspace_id", "")}
                await self._call("package/instance/delete", {"id": live.remote_id}, workspace=header)
        except NotFound:
            return  # already gone (with its workspace, or by hand)


def _field(data: Any, name: str) -> Any:
    if not isinstance(data, Mapping) or name not in data:
        raise ProviderError(f"steamship returned data without {name}: {str(data)[:200]!r}")
    return data[name]
