"""Emulator of a Scramjet Transform Hub's REST API (v1), in two dialects (``scramjet_profiles``).

Mounted by the sandbox under ``/scramjet``, so its base URL is ``http://HOST:PORT/scramjet/api/v1``.
See ARCHITECTURE.md, "The three APIs". Where the documented API and the real 0.18.7 hub differ, the
``documented`` profile (the default) follows the documentation and ``hub-0.18.7`` the real hub; in the
documented profile a duplicate name is 405 (0.18.7 stores a second copy),
``PUT /sequence/:id_or_name`` replaces a package in place (0.18.7 answers 404), ``_stop`` answers 202
(0.18.7: 200 after ``timeout`` ms) and ``/instances`` carries ``appConfig``, ``sequenceArgs`` and
``status``. What both agree on is kept: ``DELETE`` answers and 409 "in use", 404 with an empty body on
unknown routes, 400 "Invalid content-type" on a POST/DELETE without a JSON content type, a GET whose
``Accept`` excludes JSON, or an upload that is not ``application/octet-stream``.

Choices where the notes are silent:
- 404 bodies are ``{"error": "Sequence <id> not found"}`` / ``{"error": "Instance <id> not found"}``;
  ``DELETE`` and ``start`` add ``"opStatus": "Not Found"`` as 0.18.7 does. A 400 body is
  ``{"error": "Invalid content-type"}`` (0.18.7 puts it in the reason phrase with an empty body).
- ``x-name`` is ignored, as on 0.18.7: a sequence's name is always ``name`` from package.json.
- ``_stop`` takes 0.18.7's array body ``[4001, {"timeout": ms, "canCallKeepalive": false}]`` or the
  bare object; instances stop at once. A sequence crashes at load when its package.json has
  ``"scramjet": {"sandbox": {"crash": true}}`` or its name is in ``crash_packages``: ``start`` answers
  200 with an instance id, but the instance never appears (``GET /instance/:id`` and ``/health`` are
  404) and ``GET /log`` (ndjson, like the hub log) holds an ERROR line naming the instance and sequence.
- Both dialects do what 0.18.7 does around the routes (``scramjet_guard.hub_front``): CORS
  (``access-control-allow-origin: *`` on every answer, ``OPTIONS`` answered 200), and a trailing
  slash is the same route (``/sequences/``). Streams (``/instance/:id/output``, ``/stdout``, the
  hub's ``/log``) stay open (``scramjet_streams.py``); ``/input`` answers 200 and feeds ``/output``;
  ``_event`` answers 202 ``{"accepted": true}``.
- ``hub-0.18.7``: a killed instance lingers ``KILL_LINGER_S`` (the runner takes that long to exit):
  ``GET`` still answers 200 and a second ``_kill`` 202 meanwhile, then it is gone.
- Sequences persist in ``JsonStore(data_dir, name)``, package bytes in ``<data_dir>/<name>-packages/``;
  instances live in memory only and never survive a restart, as on a real hub (unless
  ``persist_instances``, which the CLI's in-process sandbox sets).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reconciler.common.paths import write_atomic
from reconciler.sandbox.scramjet_guard import Handler, guard, hub_front
from reconciler.sandbox.scramjet_package import PackageError, read_package
from reconciler.sandbox.scramjet_profiles import DOCUMENTED, PROFILES, Profile, load_check
from reconciler.sandbox.scramjet_streams import Feed
from reconciler.sandbox.store import JsonStore

__all__ = ["create_app"]

API = "/api/v1"
KILL_LINGER_S = 0.5
STREAM = "application/octet-stream"


def _now() -> str:
    """A timestamp like JavaScript's ``Date.toISOString()``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({**extra, "error": message}, status_code=status)


def _opstatus(status: int, op_status: str, **extra: Any) -> JSONResponse:
    """0.18.7's operation answers: the reason phrase in ``opStatus``, no ``error`` unless it has one."""
    return JSONResponse({"opStatus": op_status, **extra}, status_code=status)


async def _empty_404(request: Request, exc: Exception) -> Response:
    """Unknown route (or a method the route lacks): 404 with an empty body, like the hub's router."""
    return Response(status_code=404)


class _Hub:
    """The hub's state and its route handlers; one per app."""

    def __init__(
        self,
        data_dir: Path | None,
        name: str,
        profile: Profile,
        crash_packages: Collection[str],
        persist_instances: bool = False,
        endless_streams: bool = True,
    ):
        self.profile = profile
        self.data_dir = data_dir
        self.crash_packages = frozenset(crash_packages)
        self.store = JsonStore(data_dir, name)
        self.data = self.store.load({"sequences": {}})
        self.package_dir = Path(data_dir) / f"{name}-packages" if data_dir is not None else None
        self.persist_instances = persist_instances
        self.instances: dict[str, dict[str, Any]] = (
            self.data.setdefault("instances", {}) if persist_instances else {}
        )
        self.log_lines: list[dict[str, Any]] = []
        self.endless_streams = endless_streams
        self.log_feed = Feed(endless_streams)
        self.feeds: dict[tuple[str, str], Feed] = {}  # (instance id, "output" | "stdout")

    # ---- helpers ---------------------------------------------------------------------------------

    def _log(self, level: str, msg: str, source: str, **data: Any) -> None:
        line = {"level": level, "msg": msg, "ts": int(time.time() * 1000), "from": source, **data}
        self.log_lines.append(line)
        self.log_feed.write((json.dumps(line, separators=(",", ":")) + "\n").encode())

    def _feed(self, inst_id: str, name: str) -> Feed:
        feed = self.feeds.get((inst_id, name))
        if feed is None:
            feed = self.feeds[(inst_id, name)] = Feed(self.endless_streams)
        return feed

    def _live(self, inst_id: str) -> dict[str, Any] | None:
        """The instance, unless a kill's linger is over (then it is removed now)."""
        self._purge()
        return self.instances.get(inst_id)

    def _purge(self) -> None:
        now = time.time()
        for inst_id in [i for i, inst in self.instances.items() if inst.get("_gone_at", now + 1) <= now]:
            self._remove(inst_id)

    def _remove(self, inst_id: str) -> dict[str, Any]:
        inst = self.instances.pop(inst_id)
        self._instances_changed()
        for name in ("output", "stdout"):
            feed = self.feeds.pop((inst_id, name), None)
            if feed is not None:
                feed.close()
        return inst

    def _sequence_view(self, seq_id: str) -> dict[str, Any]:
        self._purge()
        seq = self.data["sequences"][seq_id]
        running = [i for i, inst in self.instances.items() if inst["sequence"] == seq_id]
        return {"id": seq_id, "config": seq["config"], "instances": running}

    def _find_sequence(self, id_or_name: str) -> str | None:
        if id_or_name in self.data["sequences"]:
            return id_or_name
        return next((i for i, s in self.data["sequences"].items() if s["config"]["name"] == id_or_name), None)

    def _instances_changed(self) -> None:
        if self.persist_instances:
            self.store.save(self.data)

    def _in_use(self, seq_id: str) -> bool:
        self._purge()
        return any(inst["sequence"] == seq_id for inst in self.instances.values())

    def _write_package(self, seq_id: str, body: bytes) -> None:
        if self.package_dir is None:
            return
        write_atomic(self.package_dir / f"{seq_id}.tar.gz", body)

    def _store_sequence(self, seq_id: str, body: bytes, package: Any) -> None:
        sequence_dir = str(self.package_dir / seq_id) if self.package_dir else f"/sandbox/sequences/{seq_id}"
        self._write_package(seq_id, body)
        self.data["sequences"][seq_id] = {
            "config": package.config(seq_id, sequence_dir),
            "digest": hashlib.sha256(body).hexdigest(),
            "crash": package.crash,
        }
        self.store.save(self.data)

    @staticmethod
    async def _json_body(request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else None

    def _instance_not_found(self, inst_id: str) -> Response:
        if not self.profile.error_bodies:
            return Response(status_code=404)  # 0.18.7's instance router: no instance, empty 404
        return _error(404, f"Instance {inst_id} not found")

    def _instance_view(self, inst: dict[str, Any], listed: bool) -> dict[str, Any]:
        """0.18.7 lists ``{id, sequence}`` only and details without ``status``."""
        if self.profile.rich_instances:
            return {k: v for k, v in inst.items() if k != "processId" and not k.startswith("_")}
        if listed:
            return {"id": inst["id"], "sequence": inst["sequence"]}
        keys = ("started", "created", "id", "sequence", "appConfig", "sequenceArgs")
        return {k: inst[k] for k in keys if k in inst}

    # ---- hub -------------------------------------------------------------------------------------

    async def version_info(self, request: Request) -> Response:
        return JSONResponse(self.profile.version_body())

    async def load_check(self, request: Request) -> Response:
        return JSONResponse(load_check(self.data_dir))

    async def topics(self, request: Request) -> Response:
        return JSONResponse([])  # sequences here never provide or require topics

    async def hub_log(self, request: Request) -> Response:
        return StreamingResponse(self.log_feed.follow(), media_type=STREAM)

    # ---- sequences -------------------------------------------------------------------------------

    async def list_sequences(self, request: Request) -> Response:
        return JSONResponse([self._sequence_view(i) for i in self.data["sequences"]])

    async def get_sequence(self, request: Request) -> Response:
        seq_id = request.path_params["id"]
        if seq_id not in self.data["sequences"]:
            if not self.profile.error_bodies:
                return JSONResponse({}, status_code=404)
            return _error(404, f"Sequence {seq_id} not found")
        return JSONResponse(self._sequence_view(seq_id))

    async def sequence_instances(self, request: Request) -> Response:
        seq_id = request.path_params["id"]
        if seq_id not in self.data["sequences"]:
            if not self.profile.error_bodies:
                return Response(status_code=500)  # 0.18.7 fails to serialise its `undefined`
            return _error(404, f"Sequence {seq_id} not found")
        return JSONResponse(self._sequence_view(seq_id)["instances"])

    async def upload_sequence(self, request: Request) -> Response:
        body = await request.body()
        try:
            package = read_package(body)
        except PackageError as exc:
            if not self.profile.error_bodies:
                return JSONResponse({"error": {"code": "PRERUNNER_ERROR", "data": str(exc)}}, status_code=422)
            return _error(422, str(exc))
        if self.profile.unique_names and self._find_sequence(package.name) is not None:
            return _error(405, f"Sequence with name {package.name} already exist")
        seq_id = str(uuid.uuid4())
        self._store_sequence(seq_id, body, package)
        self._log("INFO", "Sequence uploaded", "Host", data=[seq_id, package.name])
        return JSONResponse({"id": seq_id})

    async def replace_sequence(self, request: Request) -> Response:
        key = request.path_params["id"]
        seq_id = self._find_sequence(key)
        if seq_id is None:
            return _error(404, f"Sequence with name {key} not found")
        body = await request.body()
        try:
            package = read_package(body)
        except PackageError as exc:
            return _error(422, str(exc))
        if self._in_use(seq_id):
            return _error(409, "Can't update sequence in use.", opStatus="Conflict")
        other = self._find_sequence(package.name)
        if other is not None and other != seq_id:
            return _error(409, f"Sequence with name {package.name} already exists", opStatus="Conflict")
        self._store_sequence(seq_id, body, package)
        self._log("INFO", "Sequence updated", "Host", data=[seq_id, package.name])
        return JSONResponse({"id": seq_id})

    async def delete_sequence(self, request: Request) -> Response:
        seq_id = request.path_params["id"]
        if seq_id not in self.data["sequences"]:
            if not self.profile.error_bodies:
                return _opstatus(404, "Not Found")
            return _error(404, f"Sequence {seq_id} not found", opStatus="Not Found")
        if self._in_use(seq_id):
            return _error(409, "Can't remove sequence in use.", opStatus="Conflict")
        del self.data["sequences"][seq_id]
        self.store.save(self.data)
        if self.package_dir is not None:
            (self.package_dir / f"{seq_id}.tar.gz").unlink(missing_ok=True)
        return JSONResponse({"opStatus": "OK", "id": seq_id})

    async def start_sequence(self, request: Request) -> Response:
        seq_id = request.path_params["id"]
        if seq_id not in self.data["sequences"]:
            if not self.profile.error_bodies:
                return _opstatus(404, "Not Found")
            return _error(404, f"Sequence {seq_id} not found", opStatus="Not Found")
        try:
            body = await self._json_body(request) or {}
        except ValueError:
            return _error(400, "Invalid JSON body")
        if not self.profile.rich_instances:
            given = body if isinstance(body, dict) else {}
            names = (("appConfig", "appConfig"), ("args", "sequenceArgs"))
            return self._start(seq_id, {ours: given[theirs] for theirs, ours in names if theirs in given})
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("appConfig", {}), dict)
            or not isinstance(body.get("args", []), list)
        ):
            return _error(400, 'Expected {"appConfig": {...}, "args": [...]}')
        fields = {"appConfig": body.get("appConfig", {}), "sequenceArgs": body.get("args", [])}
        response = self._start(seq_id, fields)
        return JSONResponse({**json.loads(bytes(response.body)), "message": f"Sequence {seq_id} starting"})

    def _start(self, seq_id: str, fields: dict[str, Any]) -> JSONResponse:
        """Start an instance with these ``appConfig``/``sequenceArgs`` (0.18.7 takes any, even absent)."""
        inst_id, now = str(uuid.uuid4()), _now()
        seq = self.data["sequences"][seq_id]
        if seq["crash"] or seq["config"]["name"] in self.crash_packages:
            # Like a sequence whose entry file throws: start succeeds, the runner exits with code 21.
            self._log(
                "ERROR",
                "Sequence finished with error",
                "CSIController",
                data=[21],
                instance=inst_id,
                sequence=seq_id,
                error=f"Sequence error: {seq['config']['name']} crashed while loading (sandbox marker)",
            )
        else:
            self.instances[inst_id] = {
                "id": inst_id,
                "sequence": seq_id,
                **fields,
                "created": now,
                "started": now,
                "status": "running",
                "processId": 20000 + len(self.log_lines),  # a runner's pid, unique enough here
            }
            self._log("INFO", "Instance started", "CSIController", instance=inst_id, sequence=seq_id)
            self._instances_changed()
        return JSONResponse({"opStatus": "OK", "id": inst_id})

    # ---- instances -------------------------------------------------------------------------------

    async def list_instances(self, request: Request) -> Response:
        self._purge()
        return JSONResponse([self._instance_view(inst, listed=True) for inst in self.instances.values()])

    async def get_instance(self, request: Request) -> Response:
        inst_id = request.path_params["id"]
        inst = self._live(inst_id)
        if inst is None:
            return self._instance_not_found(inst_id)
        return JSONResponse(self._instance_view(inst, listed=False))

    async def instance_health(self, request: Request) -> Response:
        inst_id = request.path_params["id"]
        if self._live(inst_id) is None:
            return self._instance_not_found(inst_id)
        if self.profile.rich_instances:
            return JSONResponse({"healthy": True})
        return JSONResponse({"healthy": True, "processId": self.instances[inst_id]["processId"]})

    def _end_instance(self, inst_id: str, status: str, how: str) -> JSONResponse:
        inst = self._remove(inst_id)
        self._log("TRACE", f"Instance {how}", "CSIController", instance=inst_id, sequence=inst["sequence"])
        seq = self.data["sequences"].get(inst["sequence"])
        info = {"id": inst["sequence"], "config": seq["config"]} if seq else None
        view = self._instance_view(inst, listed=False)
        return JSONResponse({**view, "sequenceInfo": info, "status": status}, status_code=202)

    async def _stop_held(self, inst_id: str, body: Any) -> Response:
        """0.18.7: spreads the body into a control message (not an array: 500), waits ``timeout`` ms
        (a non-number waits not at all), kills the runner, answers 200 ``{"opStatus": "OK"}``."""
        if not isinstance(body, list):  # its error handler sends the TypeError's message as the body
            return Response("Spread syntax requires ...iterable[Symbol.iterator] to be a function", 500)
        if len(body) < 2 or not isinstance(body[1], dict):
            return Response("Cannot destructure property 'timeout' of 'undefined' as it is undefined.", 500)
        timeout = body[1].get("timeout")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            await asyncio.sleep(timeout / 1000)
        if (
            self._live(inst_id) is not None and "_gone_at" not in self.instances[inst_id]
        ):  # not killed meanwhile
            self._end_instance(inst_id, "stopping", "stopped")
        return _opstatus(200, "OK")

    async def stop_instance(self, request: Request) -> Response:
        inst_id = request.path_params["id"]
        if self._live(inst_id) is None:
            return self._instance_not_found(inst_id)
        try:
            body = await self._json_body(request)
        except ValueError:
            return _error(400, "Invalid JSON body")
        if self.profile.stop_holds:
            return await self._stop_held(inst_id, body)
        # 0.18.7 wants [4001, {timeout, canCallKeepalive}]; the documentation shows the bare object.
        options = body[1] if isinstance(body, list) and len(body) > 1 else body
        options = options if isinstance(options, dict) else {}
        timeout = options.get("timeout", 7000)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            return _error(400, "Invalid timeout format")
        if not isinstance(options.get("canCallKeepalive", False), bool):
            return _error(400, "Invalid canCallKeepalive format")
        return self._end_instance(inst_id, "stopping", "stopped")

    async def kill_instance(self, request: Request) -> Response:
        inst_id = request.path_params["id"]
        inst = self._live(inst_id)
        if inst is None:
            return self._instance_not_found(inst_id)
        if self.profile.rich_instances:
            return self._end_instance(inst_id, "killing", "killed")
        if "_gone_at" not in inst:  # 0.18.7: the runner is told to exit; the instance goes with it
            inst["_gone_at"] = time.time() + KILL_LINGER_S
            self._instances_changed()
            # Gone then even if nobody asks (its streams end); a lazy purge covers a restart.
            asyncio.get_running_loop().call_later(KILL_LINGER_S + 0.01, self._purge)
            self._log(
                "TRACE", "Instance killed", "CSIController", instance=inst_id, sequence=inst["sequence"]
            )
        return _opstatus(202, "Accepted")

    async def instance_stream(self, request: Request) -> Response:
        """``/output`` and ``/stdout``: open streams of what the instance writes (module docstring)."""
        inst_id = request.path_params["id"]
        if self._live(inst_id) is None:
            return self._instance_not_found(inst_id)
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        return StreamingResponse(self._feed(inst_id, name).follow(), media_type=STREAM)

    async def instance_input(self, request: Request) -> Response:
        """``/input``: 200 with an empty body; a sandbox instance passes it through to ``/output``."""
        inst_id = request.path_params["id"]
        if self._live(inst_id) is None:
            return self._instance_not_found(inst_id)
        async for chunk in request.stream():
            if chunk:
                text = chunk.decode("utf-8", errors="replace")
                self._feed(inst_id, "output").write((json.dumps(text) + "\n").encode())
        return Response(status_code=200)

    async def instance_event(self, request: Request) -> Response:
        """``_event`` with ``[5001, {eventName, message}]``: handed to the runner, 202."""
        inst_id = request.path_params["id"]
        if self._live(inst_id) is None:
            return self._instance_not_found(inst_id)
        try:
            body = await self._json_body(request)
        except ValueError:
            return _error(400, "Invalid JSON body")
        event = body[1] if isinstance(body, list) and len(body) > 1 else None
        if isinstance(event, dict) and isinstance(event.get("eventName"), str):
            self._log("DEBUG", "Event sent", "CSIController", instance=inst_id, data=[event["eventName"]])
        return JSONResponse({"accepted": True}, status_code=202)


def create_app(
    data_dir: Path | None = None,
    *,
    name: str = "scramjet",
    token: str | None = None,
    profile: str = DOCUMENTED,
    version: str | None = None,
    crash_packages: Collection[str] = (),
    persist_instances: bool = False,
    endless_streams: bool = True,
) -> Any:
    """Build the hub emulator. ``token`` turns on Cloud Platform style bearer auth;
    ``crash_packages`` names sequences (package.json ``name``) whose instances crash at load;
    ``persist_instances`` keeps running instances in the data dir too (the in-process sandbox of the
    CLI, where every command is a new process: a "restart" there must not stop them); ``profile``
    is ``documented`` or ``hub-0.18.7`` and ``version`` overrides what ``GET /version`` reports;
    ``endless_streams=False`` ends each stream after what it holds (a transport that waits for whole
    answers: the in-process sandbox)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown Scramjet profile {profile!r}: expected one of {', '.join(PROFILES)}")
    chosen = PROFILES[profile]
    if version is not None:
        chosen = dataclasses.replace(chosen, version=version)
    hub = _Hub(data_dir, name, chosen, crash_packages, persist_instances, endless_streams)
    table: list[tuple[str, str, Handler, str]] = [
        ("/version", "GET", hub.version_info, "get"),
        ("/load-check", "GET", hub.load_check, "get"),
        ("/topics", "GET", hub.topics, "get"),
        ("/log", "GET", hub.hub_log, "stream"),
        ("/sequences", "GET", hub.list_sequences, "get"),
        ("/sequence", "POST", hub.upload_sequence, "upload"),
        ("/sequence/{id}", "GET", hub.get_sequence, "get"),
        ("/sequence/{id}", "DELETE", hub.delete_sequence, "op"),
        ("/sequence/{id}/instances", "GET", hub.sequence_instances, "get"),
        ("/sequence/{id}/start", "POST", hub.start_sequence, "op"),
        ("/instances", "GET", hub.list_instances, "get"),
        ("/instance/{id}", "GET", hub.get_instance, "get"),
        ("/instance/{id}/health", "GET", hub.instance_health, "get"),
        ("/instance/{id}/_stop", "POST", hub.stop_instance, "op"),
        ("/instance/{id}/_kill", "POST", hub.kill_instance, "op"),
        ("/instance/{id}/_event", "POST", hub.instance_event, "op"),
        ("/instance/{id}/output", "GET", hub.instance_stream, "stream"),
        ("/instance/{id}/stdout", "GET", hub.instance_stream, "stream"),
        ("/instance/{id}/input", "POST", hub.instance_input, "stream"),
    ]
    if chosen.has_put:
        table.append(("/sequence/{id}", "PUT", hub.replace_sequence, "upload"))
    routes = [
        Route(API + path, guard(handler, kind, token, chosen), methods=[method], name=f"{method} {path}")
        for path, method, handler, kind in table
    ]
    app = Starlette(routes=routes, exception_handlers={404: _empty_404, 405: _empty_404})
    app.state.hub = hub
    return hub_front(app)
