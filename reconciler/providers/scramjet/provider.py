"""The Scramjet provider: sequences and their instances, on any number of hubs.

Works with the documented hub API and with a real Transform Hub 0.18.7 (ARCHITECTURE.md, "The three APIs"),
detecting what a hub supports instead of assuming:

- a refresh reads ``/sequences`` and ``/instances`` of every hub at once (one call each), and
  ``/instance/:id`` only for instances the list leaves without args or appConfig (0.18.7);
- whether a hub has ``PUT /sequence/:id`` is learned without writing (read-only commands make no
  write call): from ``GET /version`` (the documented API of hubs 0.22 on has it; 0.18.7 has not; an
  unknown version counts as without). Without it, a new package is a replace: stop the instances,
  delete, upload, start. Should a hub then answer the PUT of an update with 404 (no body) or 405,
  apply falls back to that replace and remembers it for the rest of the run;
- a hub accepts a second sequence of the same name, so uploads go through ``ApiClient.create`` with
  a lookup by name: a lost response never uploads a duplicate;
- a started instance is watched for ``health_check_s``: a sequence that crashes at load fails the
  apply with the instance id and what the hub logged;
- stopping is ``_stop`` (array body, short timeout), then ``_kill`` if it is still there; a sequence
  is deleted only once its instances are gone, so a 409 "in use" never reaches the user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx2

from reconciler.errors import CreatedUnusable, ProviderError
from reconciler.packages.pack import PackageError, load_package
from reconciler.providers.http import ApiClient, decode_json, parsing
from reconciler.providers.scramjet.parse import (
    LiveInstance,
    crash_report,
    match_instances,
    needs_detail,
    parse_instance,
    parse_sequence,
    split_id,
    start_body,
    stop_body,
)
from reconciler.providers.stats import CallStats
from reconciler.values import Desired, LiveObject, LiveState

__all__ = ["ScramjetProvider"]

JSON = {"content-type": "application/json"}
UPLOAD = {"content-type": "application/octet-stream"}
PUT_SINCE = (0, 22)  # the first hub version whose documented API has PUT /sequence/:id
POLL_S = 0.2
GONE_AFTER_KILL_S = 8.0
LOG_MAX_BYTES = 4 * 1024 * 1024
LOG_READ_S = 1.5
NO_PUT = "hub {hub} has no PUT /sequence/:id (e.g. Transform Hub 0.18.7): a new package is uploaded anew"


class ScramjetProvider:
    name = "scramjet"

    def __init__(
        self,
        clients: Mapping[str, ApiClient],
        *,
        stop_timeout_ms: int = 1000,
        health_check_s: float = 1.5,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = dict(clients)
        self.stop_timeout_ms = stop_timeout_ms
        self.health_check_s = health_check_s
        self.sleep, self.clock = sleep, clock
        self.can_put: dict[str, bool] = {}  # per hub, once learned from /version or from a PUT

    def stats(self) -> CallStats:
        """Summed over the hubs' clients."""
        return sum((client.stats for client in self.clients.values()), CallStats())

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.client.aclose()

    def _client(self, hub: str) -> ApiClient:
        if hub not in self.clients:
            raise ProviderError(f"scramjet: hub {hub!r} is not in providers.scramjet.hubs")
        return self.clients[hub]

    # --- reading -------------------------------------------------------------------------
    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        if "sequences" not in kinds:
            return
        for objects in await asyncio.gather(*(self._read_hub(hub) for hub in self.clients)):
            for obj in objects:
                live.add(obj)
        live.listed("sequences")

    async def _read_hub(self, hub: str) -> list[LiveObject]:
        http = self._client(hub)
        sequences, listed, _ = await asyncio.gather(
            http.json("GET", "/sequences"), http.json("GET", "/instances"), self._learn_put(hub)
        )
        if not isinstance(sequences, list) or not isinstance(listed, list):
            raise ProviderError(f"scramjet hub {hub}: GET /sequences or /instances did not return a list")
        ids = {s.get("id") for s in sequences if isinstance(s, Mapping)}
        instances = await self._complete(hub, [i for i in listed if isinstance(i, Mapping)], ids)
        replace = {} if self.can_put.get(hub) else {f: NO_PUT.format(hub=hub) for f in _PACKAGE_FIELDS}
        with parsing(f"scramjet:{hub} GET /sequences"):
            return [parse_sequence(hub, s, instances, replace) for s in sequences]

    async def _complete(
        self, hub: str, listed: list[Mapping[str, Any]], sequences: set[Any]
    ) -> list[LiveInstance]:
        """Parsed running instances; details fetched (concurrently) only where the list lacks them."""
        mine = [i for i in listed if i.get("sequence") in sequences]
        details = await asyncio.gather(
            *(self._detail(hub, str(i.get("id"))) if needs_detail(i) else _value(i) for i in mine)
        )
        return [inst for inst in map(parse_instance, details) if inst is not None]

    async def _detail(self, hub: str, instance_id: str) -> Any:
        response = await self._client(hub).request("GET", f"/instance/{instance_id}", ok={404})
        if response.status_code == 404:
            return None  # ended between the list and now
        return decode_json(response, f"scramjet:{hub} GET /instance/{{id}}")

    async def _learn_put(self, hub: str) -> None:
        """Whether the hub has ``PUT /sequence/:id``, from its version: a read, never a write."""
        if hub in self.can_put:
            return
        response = await self._client(hub).request("GET", "/version", ok={404})
        version = None
        if response.status_code == 200:
            body = decode_json(response, f"scramjet:{hub} GET /version")
            version = _version_tuple(body.get("version") if isinstance(body, Mapping) else None)
        self.can_put[hub] = version is not None and version >= PUT_SINCE

    async def _instances_of(self, hub: str, sequence_id: str) -> list[LiveInstance] | None:
        """The running instances of one sequence (None if the sequence is gone)."""
        http = self._client(hub)
        response = await http.request("GET", f"/sequence/{sequence_id}", ok={404})
        if response.status_code == 404:
            return None
        listed = await http.json("GET", "/instances")
        return await self._complete(hub, [i for i in listed if isinstance(i, Mapping)], {sequence_id})

    async def _named(self, hub: str, name: str) -> list[str]:
        """Ids of every sequence on ``hub`` whose package.json name is ``name``."""
        sequences = await self._client(hub).json("GET", "/sequences")
        return [
            str(s["id"])
            for s in sequences
            if isinstance(s, Mapping)
            and isinstance(s.get("config"), Mapping)
            and s["config"].get("name") == name
        ]

    async def _read_one(self, hub: str, sequence_id: str) -> LiveObject:
        http = self._client(hub)
        payload = await http.json("GET", f"/sequence/{sequence_id}")
        instances = await self._instances_of(hub, sequence_id) or []
        replace = {} if self.can_put.get(hub) else {f: NO_PUT.format(hub=hub) for f in _PACKAGE_FIELDS}
        return parse_sequence(hub, payload, instances, replace)

    # --- writing -------------------------------------------------------------------------
    async def create(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        hub = attrs["hub"]
        data = _package_bytes(desired, attrs)
        sequence_id = await self._upload(hub, desired.name, data)
        return await self._start_all(desired, hub, sequence_id, attrs.get("instances") or [])

    async def _upload(self, hub: str, name: str, data: bytes) -> str:
        before = set(await self._named(hub, name))
        if before:
            raise ProviderError(
                f"scramjet hub {hub} already has a sequence named {name!r} ({', '.join(sorted(before))}), "
                "which the plan did not see: run plan again"
            )

        async def find_existing() -> str | None:
            landed = [i for i in await self._named(hub, name) if i not in before]
            return landed[0] if landed else None

        result = await self._client(hub).create("POST", "/sequence", content=data, headers=UPLOAD,
                                                find_existing=find_existing)  # fmt: skip
        return _created_id(result, hub, "POST /sequence")

    async def _start_all(
        self, desired: Desired, hub: str, sequence_id: str, specs: Sequence[Mapping[str, Any]]
    ) -> LiveObject:
        """Start ``specs`` one by one, then watch them all at once; a crash fails with what was logged."""
        started = [await self._start(hub, sequence_id, spec) for spec in specs]
        crashed = await self._crashed(hub, started)
        obj = await self._read_one(hub, sequence_id)
        if crashed:
            log = await self._hub_log(hub)
            lines = [f"  {line}" for inst in crashed for line in crash_report(log, inst)]
            detail = (
                ("; the hub logged:\n" + "\n".join(lines)) if lines else " (the hub logged nothing about it)"
            )
            raise CreatedUnusable(
                f"scramjet hub {hub}: sequence {desired.name} ({sequence_id}) crashed at start: instance "
                f"{', '.join(crashed)} ended within {self.health_check_s:g}s{detail}",
                obj,
            )
        return obj

    async def _start(self, hub: str, sequence_id: str, spec: Mapping[str, Any]) -> str:
        http = self._client(hub)
        known = set(await self._ids_on(hub, sequence_id))

        async def find_existing() -> str | None:
            new = [i for i in await self._ids_on(hub, sequence_id) if i not in known]
            return new[0] if new else None

        result = await http.create("POST", f"/sequence/{sequence_id}/start", json=start_body(spec),
                                   find_existing=find_existing)  # fmt: skip
        return _created_id(result, hub, "POST /sequence/{id}/start")

    async def _ids_on(self, hub: str, sequence_id: str) -> list[str]:
        payload = await self._client(hub).json("GET", f"/sequence/{sequence_id}")
        ids = payload.get("instances") if isinstance(payload, Mapping) else None
        return [str(i) for i in ids] if isinstance(ids, list) else []

    async def _crashed(self, hub: str, instance_ids: list[str]) -> list[str]:
        """Instances that vanished (health 404) within ``health_check_s`` of their start."""
        if not instance_ids:
            return []
        gone: set[str] = set()
        deadline = self.clock() + self.health_check_s
        while True:
            checks = await asyncio.gather(*(self._alive(hub, i) for i in instance_ids if i not in gone))
            gone |= {i for i, alive in zip([i for i in instance_ids if i not in gone], checks, strict=True)
                     if not alive}  # fmt: skip
            if len(gone) == len(instance_ids) or self.clock() >= deadline:
                return [i for i in instance_ids if i in gone]
            await self.sleep(POLL_S)

    async def _alive(self, hub: str, instance_id: str) -> bool:
        response = await self._client(hub).request("GET", f"/instance/{instance_id}/health", ok={404})
        return response.status_code != 404

    async def _hub_log(self, hub: str) -> str:
        """The hub's log so far. A real hub streams it without end: read briefly, keep the tail."""
        chunks: list[bytes] = []
        size = 0
        started = self.clock()
        try:
            async with self._client(hub).client.stream(
                "GET", "/log", headers={"accept": "*/*"}, timeout=httpx2.Timeout(5.0, read=0.5)
            ) as response:
                if response.status_code >= 400:
                    return ""
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > LOG_MAX_BYTES or self.clock() - started > LOG_READ_S:
                        break
        except httpx2.HTTPError:
            pass  # a read timeout ends an endless stream; what was read is kept
        return b"".join(chunks)[-LOG_MAX_BYTES // 4 :].decode("utf-8", errors="replace")

    async def update(
        self, desired: Desired, live: LiveObject, attrs: Mapping[str, Any], changed: set[str]
    ) -> LiveObject | None:
        hub, sequence_id = split_id(live.remote_id)
        running = await self._instances_of(hub, sequence_id) or []
        wanted = attrs.get("instances")
        if changed & set(_PACKAGE_FIELDS):
            specs = list(wanted) if wanted is not None else [i.spec for i in running]
            data = _package_bytes(desired, attrs)
            await asyncio.gather(*(self._stop(hub, i.id) for i in running))  # PUT is 409 while in use
            if self.can_put.get(hub, True) and await self._put(hub, sequence_id, data):
                return await self._start_all(desired, hub, sequence_id, specs)
            await self._delete_sequence(hub, sequence_id)
            new_id = await self._upload(hub, desired.name, data)
            return await self._start_all(desired, hub, new_id, specs)
        if wanted is None:
            return None
        to_start, to_stop = match_instances(wanted, running)
        await asyncio.gather(*(self._stop(hub, i.id) for i in to_stop))
        return await self._start_all(desired, hub, sequence_id, to_start)

    async def _put(self, hub: str, sequence_id: str, data: bytes) -> bool:
        """Replace the package in place; False (and remembered) when the hub has no PUT."""
        response = await self._client(hub).request(
            "PUT", f"/sequence/{sequence_id}", content=data, headers=UPLOAD, idempotent=True, ok={404, 405}
        )
        if response.status_code == 405 or (response.status_code == 404 and not response.content):
            self.can_put[hub] = False
            return False
        if response.status_code == 404:
            raise ProviderError(f"scramjet hub {hub}: sequence {sequence_id} vanished during the update")
        return True

    async def delete(self, kind: str, live: LiveObject) -> None:
        hub, sequence_id = split_id(live.remote_id)
        await self._delete_sequence(hub, sequence_id)

    async def _delete_sequence(self, hub: str, sequence_id: str, attempts: int = 3) -> None:
        """Stop every instance, then delete; a 409 (an instance still ending) is waited out."""
        http = self._client(hub)
        for attempt in range(attempts):
            running = await self._ids_on_or_none(hub, sequence_id)
            if running is None:
                return
            await asyncio.gather(*(self._stop(hub, i) for i in running))
            response = await http.request("DELETE", f"/sequence/{sequence_id}", headers=JSON, ok={404, 409})
            if response.status_code != 409:
                return
            if attempt < attempts - 1:
                await self.sleep(POLL_S * (attempt + 1))
        raise ProviderError(
            f"scramjet hub {hub}: sequence {sequence_id} is still in use after stopping its instances"
        )

    async def _ids_on_or_none(self, hub: str, sequence_id: str) -> list[str] | None:
        response = await self._client(hub).request("GET", f"/sequence/{sequence_id}", ok={404})
        if response.status_code == 404:
            return None
        payload = decode_json(response, f"scramjet:{hub} GET /sequence/{{id}}")
        ids = payload.get("instances") if isinstance(payload, Mapping) else None
        return [str(i) for i in ids] if isinstance(ids, list) else []

    async def _stop(self, hub: str, instance_id: str) -> None:
        """``_stop`` with a short timeout; ``_kill`` if it is still there; wait until it is gone."""
        http = self._client(hub)
        path = f"/instance/{instance_id}"
        response = await http.request(
            "POST", f"{path}/_stop", json=stop_body(self.stop_timeout_ms), idempotent=True, ok={404}
        )
        if response.status_code == 404 or await self._gone(
            hub, instance_id, 1.0 + self.stop_timeout_ms / 1000
        ):
            return
        await http.request("POST", f"{path}/_kill", json={}, idempotent=True, ok={404})
        if not await self._gone(hub, instance_id, GONE_AFTER_KILL_S):
            raise ProviderError(
                f"scramjet hub {hub}: instance {instance_id} is still there after _stop and _kill"
            )

    async def _gone(self, hub: str, instance_id: str, within_s: float) -> bool:
        deadline = self.clock() + within_s
        while True:
            response = await self._client(hub).request("GET", f"/instance/{instance_id}", ok={404})
            if response.status_code == 404:
                return True
            if self.clock() >= deadline:
                return False
            await self.sleep(POLL_S)


_PACKAGE_FIELDS = ("package_digest", "package_version")


def _version_tuple(text: Any) -> tuple[int, int] | None:
    """``"0.28.0"`` → (0, 28); None for anything else."""
    parts = str(text).split(".") if isinstance(text, str) else []
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


async def _value(value: Any) -> Any:
    return value


def _package_bytes(desired: Desired, attrs: Mapping[str, Any]) -> bytes:
    """The package as planned: packed again, and refused if it changed since the plan."""
    try:
        package = load_package(Path(attrs["package_path"]))
    except PackageError as exc:
        raise ProviderError(f"{desired.address}: {exc}") from None
    if package.digest != attrs["package_digest"]:
        raise ProviderError(
            f"{desired.address}: the package changed since the plan was made "
            f"({attrs['package_digest'][:19]}… then, {package.digest[:19]}… now): run plan again"
        )
    return package.data


def _created_id(result: Any, hub: str, call: str) -> str:
    """The id a create answered with, or the one ``find_existing`` found after a lost answer."""
    if isinstance(result, str):
        return result
    body = decode_json(result, f"scramjet:{hub} {call}")
    if not isinstance(body, Mapping) or not isinstance(body.get("id"), str):
        raise ProviderError(f"scramjet hub {hub}: {call} answered without an id: {str(body)[:200]}")
    return str(body["id"])
