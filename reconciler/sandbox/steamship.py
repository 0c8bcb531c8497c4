"""Emulator of the Steamship Engine API, faithful to the real API as observed
(ARCHITECTURE.md, "The three APIs").

Checked against the official client ``steamship==2.17.34`` by
``tests/integration/test_steamship_conformance.py``.

Wire contract (routes under ``/api/v1/``; served as ``/steamship/api/v1/`` by ``reconciler sandbox``):

- Every operation is ``POST {base}{operation}`` with a camelCase JSON body; the GET variant takes the
  same fields in the query string. ``Authorization: Bearer <key>`` is required (missing → 401; a key
  other than the configured ``api_key`` → 403). The workspace is ``X-Workspace-Id`` (wins), else
  ``X-Workspace-Handle``, else ``default`` (created on first use, like an engine account).
- Success: ``{"data": ...}``. Error: ``{"status": {"state": "failed", "statusMessage", "statusCode",
  "statusSuggestion", "statusCreatedOn"}}`` with 400/401/403/404/409 - what ``base/client.py``
  turns into ``SteamshipError`` (``base/error.py``).
- Tasks: ``workspace/delete`` always answers with a task (the engine tears a workspace down in the
  background; an unknown id is refused at once with 404), and so does any operation sent with
  ``X-Task-Background: true``, as the engine does for the client's ``as_background_task`` (then even
  its errors arrive through the task). The operation runs at once; the task reports ``waiting``
  for the first third of ``task_seconds``, ``running`` until ``task_seconds``, then ``succeeded``
  (``data`` is the result) or ``failed`` (``statusMessage`` ...). Poll with ``task/status {"taskId"}``.
  ``workspace/create`` and ``package/instance/create`` are synchronous: the official client reads
  their results directly (``switch_workspace`` and ``Steamship.use`` would break on a task).
- Package instances report ``initStatus`` ``initializing`` for ``init_seconds``, then ``complete``
  (``failed`` for ``broken-init``, with the reason in ``initStatusMessage`` - an emulator extension;
  the client ignores unknown fields). Stored ``config`` has template defaults filled in
  (see :mod:`reconciler.sandbox.steamship_packages`). The invocation URL is sent twice: as
  ``invocationURL``, the key the official client reads (its ``to_camel`` upper-cases a ``_url``
  suffix, so that is what the engine sends), and as ``invocationUrl``, as the API's notes spell it.
- ``task/get {"id"}`` answers the task as ``data``; ``account/current`` answers ``{"user": {id, handle}}``.
- Lists page with ``pageSize`` (default 20, capped at ``page_size_max``), an opaque ``pageToken`` and
  ``nextPageToken`` (``null`` on the last page), ``sortOrder`` ``DESC`` (default, newest first) or ``ASC``.

Timings are read from ``clock`` when a request comes in; nothing runs in the background. The
monotonic clock does not survive a restart, so work still pending when state is loaded from disk is
treated as finished.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.sandbox.steamship_packages import ConfigInvalid, Package, find_package, validate_config
from reconciler.sandbox.store import JsonStore

__all__ = ["EXISTS_MESSAGE", "USER_HANDLE", "EngineError", "create_app"]

EXISTS_MESSAGE = "The object you are trying to create already exists."
DEFAULT_PAGE_SIZE = 20
MAX_TASKS_KEPT = 1000
USER_HANDLE = "sandbox"
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
Body = dict[str, Any]


class EngineError(Exception):
    """An error answered in the engine's shape: a failed task status."""

    def __init__(self, http_status: int, code: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.http_status, self.code, self.message, self.suggestion = http_status, code, message, suggestion

    def status(self) -> Body:
        return {
            "state": "failed",
            "statusMessage": self.message,
            "statusCode": self.code,
            "statusSuggestion": self.suggestion,
            "statusCreatedOn": _now(),
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return str(uuid.uuid4()).upper()


def _bad(message: str) -> EngineError:
    return EngineError(400, "BadRequest", message)


def _not_found(what: str) -> EngineError:
    return EngineError(404, "NotFound", f"{what} was not found.", "Check the id or handle and the workspace.")


def _str(body: Body, key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(f'"{key}" must be a string.')


def _bool(body: Body, key: str) -> bool:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f'"{key}" must be a boolean.')


def _int(body: Body, key: str) -> int | None:
    value = body.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise _bad(f'"{key}" must be an integer.')


def _check_handle(handle: str) -> None:
    if not _HANDLE.match(handle):
        raise _bad(
            f'Invalid handle "{handle}": use 1-100 lowercase letters, digits and dashes, '
            "starting with a letter or digit."
        )


def _public(record: Body) -> Body:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class _Engine:
    """The emulator's state and operations. Handlers take the request body and headers, return ``data``."""

    def __init__(
        self,
        store: JsonStore,
        api_key: str | None,
        page_size_max: int,
        init_seconds: float,
        task_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.api_key, self.page_size_max = store, api_key, page_size_max
        self.init_seconds, self.task_seconds, self.clock = init_seconds, task_seconds, clock
        self.state = store.load({"seq": 0, "workspaces": {}, "instances": {}, "tasks": {}})
        self.user = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "steamship-sandbox-user")).upper(),
            "handle": USER_HANDLE,
        }
        for record in (*self.state["instances"].values(), *self.state["tasks"].values()):
            record["_settled"] = True
        self.operations: dict[str, Callable[[Body, Request], Body]] = {
            "workspace/create": self.workspace_create,
            "workspace/get": self.workspace_get,
            "workspace/list": self.workspace_list,
            "workspace/delete": self.workspace_delete,
            "package/get": self.package_get,
            "package/instance/create": self.instance_create,
            "package/instance/get": self.instance_get,
            "package/instance/list": self.instance_list,
            "package/instance/delete": self.instance_delete,
            "task/get": self.task_get,
            "account/current": self.account_current,
        }
        self.always_task = {"workspace/delete"}

    # ----- transport -------------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> JSONResponse:
        try:
            self._authenticate(request)
            operation = request.path_params["operation"].strip("/")
            body = await self._payload(request)
            if operation == "task/status":
                return JSONResponse(self.task_status(body))
            handler = self.operations.get(operation)
            if handler is None:
                raise EngineError(404, "NotFound", f'Unknown operation "{operation}".')
            if request.headers.get("x-task-background", "").lower() == "true":
                return JSONResponse(self._run_as_task(operation, handler, body, request))
            if operation in self.always_task:
                # Refused requests fail at once; only accepted work becomes a task.
                return JSONResponse(self._as_task(operation, {"data": handler(body, request)}, request))
            return JSONResponse({"data": handler(body, request)})
        except EngineError as err:
            return JSONResponse({"status": err.status()}, status_code=err.http_status)

    def _authenticate(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise EngineError(
                401, "Unauthorized", "Missing API key.", "Send your API key as `Authorization: Bearer <key>`."
            )
        if self.api_key is not None and not secrets.compare_digest(key.strip(), self.api_key):
            raise EngineError(403, "Forbidden", "The API key is not valid.", "Check STEAMSHIP_API_KEY.")

    async def _payload(self, request: Request) -> Body:
        if request.method == "GET":
            return dict(request.query_params)
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _bad(f"The request body is not valid JSON: {exc}.") from exc
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        return body

    def _save(self) -> None:
        self.store.save(self.state)

    def _next_seq(self) -> int:
        self.state["seq"] += 1
        return self.state["seq"]

    # ----- tasks -----------------------------------------------------------------------------------

    def _run_as_task(
        self, operation: str, handler: Callable[[Body, Request], Body], body: Body, request: Request
    ) -> Body:
        """Run an operation sent with ``X-Task-Background``: its errors surface in the task."""
        try:
            outcome: Body = {"data": handler(body, request)}
        except EngineError as err:
            outcome = {"error": err.status()}
        return self._as_task(operation, outcome, request)

    def _as_task(self, operation: str, outcome: Body, request: Request) -> Body:
        task_id = _new_id()
        self.state["tasks"][task_id] = {
            "taskId": task_id,
            "userId": self.user["id"],
            "workspaceId": request.headers.get("x-workspace-id"),
            "taskType": "internalApi",
            "input": operation,
            "taskCreatedOn": _now(),
            "_startedAt": self.clock(),
            "_outcome": outcome,
        }
        for old in list(self.state["tasks"])[:-MAX_TASKS_KEPT]:
            del self.state["tasks"][old]
        self._save()
        return self._task_wire(self.state["tasks"][task_id])

    def _task_wire(self, task: Body) -> Body:
        elapsed = self.task_seconds if task.get("_settled") else self.clock() - task["_startedAt"]
        outcome = task["_outcome"]
        if elapsed < self.task_seconds / 3:
            state, since = "waiting", 0.0
        elif elapsed < self.task_seconds:
            state, since = "running", self.task_seconds / 3
        else:
            state, since = ("succeeded" if "data" in outcome else "failed"), self.task_seconds
        created = datetime.fromisoformat(task["taskCreatedOn"].replace("Z", "+00:00"))
        modified = (created + timedelta(seconds=since)).isoformat(timespec="milliseconds")
        status = {**_public(task), "state": state, "taskLastModifiedOn": modified.replace("+00:00", "Z")}
        if state == "failed":
            status.update({k: v for k, v in outcome["error"].items() if k != "state"})
        wire: Body = {"status": status}
        if state == "succeeded":
            wire["data"] = outcome["data"]
        return wire

    def task_status(self, body: Body) -> Body:
        task_id = _str(body, "taskId")
        if not task_id:
            raise _bad('"taskId" is required.')
        task = self.state["tasks"].get(task_id)
        if task is None:
            raise _not_found(f'Task "{task_id}"')
        return self._task_wire(task)

    def task_get(self, body: Body, request: Request) -> Body:
        """``Task.get(client, _id=...)``: the task itself as ``data`` (what ``task/status`` puts in
        ``status``), which the client parses into a ``Task``."""
        task_id = _str(body, "id")
        if not task_id:
            raise _bad('"id" is required (tasks have no handle).')
        task = self.state["tasks"].get(task_id)
        if task is None:
            raise _not_found(f'Task "{task_id}"')
        return dict(self._task_wire(task)["status"])

    def account_current(self, body: Body, request: Request) -> Body:
        """``User.current(client)``: the key's user."""
        return {"user": dict(self.user)}

    # ----- paging ----------------------------------------------------------------------------------

    def _page(self, records: list[Body], body: Body, key: str, wire: Callable[[Body], Body]) -> Body:
        order = (_str(body, "sortOrder") or "DESC").upper()
        if order not in ("ASC", "DESC"):
            raise _bad(f'"sortOrder" must be ASC or DESC, not "{order}".')
        size = _int(body, "pageSize")
        size = min(DEFAULT_PAGE_SIZE, self.page_size_max) if size is None else size
        if size < 1:
            raise _bad('"pageSize" must be at least 1.')
        records = sorted(records, key=lambda r: r["_seq"], reverse=order == "DESC")
        token = _str(body, "pageToken")
        if token:
            after = self._decode_token(token, order)
            records = [r for r in records if (r["_seq"] < after if order == "DESC" else r["_seq"] > after)]
        page = records[: min(size, self.page_size_max)]
        more = len(records) > len(page)
        next_token = (
            base64.urlsafe_b64encode(f"{order}:{page[-1]['_seq']}".encode()).decode() if more else None
        )
        return {key: [wire(r) for r in page], "nextPageToken": next_token}

    @staticmethod
    def _decode_token(token: str, order: str) -> int:
        try:
            token_order, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            if token_order == order:
                return int(seq)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
        raise _bad(f'Invalid pageToken "{token}" (tokens are only valid with the same sortOrder).')

    # ----- workspaces ------------------------------------------------------------------------------

    def _find_workspace(self, ws_id: str | None = None, handle: str | None = None) -> Body | None:
        for ws in self.state["workspaces"].values():
            if (ws_id is None or ws["id"] == ws_id) and (handle is None or ws["handle"] == handle):
                return ws
        return None

    def _add_workspace(self, handle: str, body: Body) -> Body:
        ws = {
            "id": _new_id(),
            "handle": handle,
            "userId": self.user["id"],
            "createdAt": _now(),
            "_seq": self._next_seq(),
        }
        ws.update({k: body[k] for k in ("externalId", "externalType", "metadata") if body.get(k) is not None})
        self.state["workspaces"][ws["id"]] = ws
        self._save()
        return ws

    def _request_workspace(self, request: Request, body: Body | None = None) -> Body:
        """The workspace an instance operation acts in: body ``workspaceId``, then the headers."""
        ws_id = (body and _str(body, "workspaceId")) or request.headers.get("x-workspace-id")
        handle = request.headers.get("x-workspace-handle")
        if ws_id:
            found = self._find_workspace(ws_id=ws_id)
            if found is None:
                raise _not_found(f'Workspace with id "{ws_id}"')
            return found
        handle = handle or "default"
        found = self._find_workspace(handle=handle)
        if found is None and handle == "default":
            found = self._add_workspace("default", {})
        if found is None:
            raise _not_found(f'Workspace "{handle}"')
        return found

    def workspace_create(self, body: Body, request: Request) -> Body:
        handle = _str(body, "handle") or f"workspace-{secrets.token_hex(4)}"
        _check_handle(handle)
        existing = self._find_workspace(handle=handle)
        if existing is not None:
            if not _bool(body, "fetchIfExists"):
                raise EngineError(
                    409,
                    "ObjectExists",
                    EXISTS_MESSAGE,
                    f'A workspace with handle "{handle}" exists; use fetchIfExists to reuse it.',
                )
            return {"workspace": _public(existing)}
        return {"workspace": _public(self._add_workspace(handle, body))}

    def workspace_get(self, body: Body, request: Request) -> Body:
        ws_id, handle = _str(body, "id"), _str(body, "handle")
        if not ws_id and not handle:
            raise _bad('Provide the workspace "id" or "handle".')
        found = self._find_workspace(ws_id=ws_id or None, handle=handle or None)
        if found is None and not ws_id and handle == "default":
            found = self._add_workspace("default", {})
        if found is None:
            raise _not_found(f'Workspace with id "{ws_id}"' if ws_id else f'Workspace "{handle}"')
        return {"workspace": _public(found)}

    def workspace_list(self, body: Body, request: Request) -> Body:
        return self._page(list(self.state["workspaces"].values()), body, "workspaces", _public)

    def workspace_delete(self, body: Body, request: Request) -> Body:
        ws_id = _str(body, "id")
        if not ws_id:
            raise _bad('"id" is required to delete a workspace.')
        ws = self.state["workspaces"].pop(ws_id, None)
        if ws is None:
            raise _not_found(f'Workspace with id "{ws_id}"')
        # The engine deletes everything a workspace holds along with it.
        for inst_id in [i for i, inst in self.state["instances"].items() if inst["workspaceId"] == ws_id]:
            del self.state["instances"][inst_id]
        self._save()
        return {"workspace": _public(ws)}

    # ----- packages and instances ------------------------------------------------------------------

    @staticmethod
    def _package(handle: str | None, package_id: str | None) -> Package:
        if not handle and not package_id:
            raise _bad('Provide the package "handle" (or "packageHandle") or the package id.')
        package = find_package(handle=handle, package_id=package_id)
        if package is None:
            raise _not_found(f'Package with id "{package_id}"' if package_id else f'Package "{handle}"')
        return package

    def package_get(self, body: Body, request: Request) -> Body:
        return {"package": self._package(_str(body, "handle"), _str(body, "id")).to_wire()}

    def _init_status(self, inst: Body) -> str:
        if inst.get("_settled") or self.clock() - inst["_initStartedAt"] >= self.init_seconds:
            return "failed" if inst.get("_initFailure") else "complete"
        return "initializing"

    def _instance_wire(self, inst: Body) -> Body:
        status = self._init_status(inst)
        wire = {**_public(inst), "initStatus": status}
        if status == "failed":
            wire["initStatusMessage"] = inst["_initFailure"]
        return wire

    def instance_create(self, body: Body, request: Request) -> Body:
        ws = self._request_workspace(request, body)
        package = self._package(_str(body, "packageHandle"), _str(body, "packageId"))
        handle = _str(body, "handle") or f"{package.handle}-{secrets.token_hex(4)}"
        _check_handle(handle)
        existing = next(
            (
                i
                for i in self.state["instances"].values()
                if i["workspaceId"] == ws["id"] and i["handle"] == handle
            ),
            None,
        )
        if existing is not None:
            if not _bool(body, "fetchIfExists"):
                raise EngineError(
                    409,
                    "ObjectExists",
                    EXISTS_MESSAGE,
                    f'A package instance with handle "{handle}" exists in workspace '
                    f'"{ws["handle"]}"; delete it first or use fetchIfExists.',
                )
            return {"packageInstance": self._instance_wire(existing)}
        version_handle, version_id = _str(body, "packageVersionHandle"), _str(body, "packageVersionId")
        if version_id:
            version = package.version_by_id(version_id)
        else:
            version = package.version(version_handle) if version_handle else package.latest
        if version is None:
            raise _not_found(f'Version "{version_id or version_handle}" of package "{package.handle}"')
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise _bad('"config" must be a JSON object.')
        try:
            stored_config = validate_config(version.config_template, config)
        except ConfigInvalid as exc:
            raise EngineError(
                400,
                "InvalidConfig",
                str(exc),
                f'See the configTemplate of package "{package.handle}" ({version.handle}).',
            ) from exc
        invocation_url = f"https://{self.user['handle']}.steamship.run/{ws['handle']}/{handle}/"
        inst = {
            "id": _new_id(),
            "handle": handle,
            "packageId": package.id,
            "packageHandle": package.handle,
            "userHandle": self.user["handle"],
            "packageVersionId": version.id,
            "packageVersionHandle": version.handle,
            "userId": self.user["id"],
            "invocationURL": invocation_url,
            "invocationUrl": invocation_url,
            "config": stored_config,
            "workspaceId": ws["id"],
            "workspaceHandle": ws["handle"],
            "createdAt": _now(),
            "_seq": self._next_seq(),
            "_initStartedAt": self.clock(),
            "_initFailure": version.init_failure,
        }
        self.state["instances"][inst["id"]] = inst
        answer = {"packageInstance": self._instance_wire(inst)}  # as at creation, however long the save
        self._save()
        return answer

    def _find_instance(self, ws: Body, body: Body) -> Body:
        inst_id, handle = _str(body, "id"), _str(body, "handle")
        if not inst_id and not handle:
            raise _bad('Provide the package instance "id" or "handle".')
        for inst in self.state["instances"].values():
            if inst["workspaceId"] == ws["id"] and (
                inst["id"] == inst_id if inst_id else inst["handle"] == handle
            ):
                return inst
        what = f'PackageInstance with id "{inst_id}"' if inst_id else f'PackageInstance "{handle}"'
        raise _not_found(f'{what} in workspace "{ws["handle"]}"')

    def instance_get(self, body: Body, request: Request) -> Body:
        return {
            "packageInstance": self._instance_wire(
                self._find_instance(self._request_workspace(request), body)
            )
        }

    def instance_list(self, body: Body, request: Request) -> Body:
        records = list(self.state["instances"].values())
        if not _bool(body, "acrossWorkspaces"):
            ws_id = self._request_workspace(request)["id"]
            records = [r for r in records if r["workspaceId"] == ws_id]
        for key in ("packageId", "packageVersionId"):
            wanted = _str(body, key)
            if wanted:
                records = [r for r in records if r[key] == wanted]
        return self._page(records, body, "packageInstances", self._instance_wire)

    def instance_delete(self, body: Body, request: Request) -> Body:
        if not _str(body, "id"):
            raise _bad('"id" is required to delete a package instance.')
        inst = self._find_instance(self._request_workspace(request), {"id": body["id"]})
        wire = self._instance_wire(inst)
        del self.state["instances"][inst["id"]]
        self._save()
        return {"packageInstance": wire}


def create_app(
    data_dir: Path | None = None,
    *,
    api_key: str | None = None,
    page_size_max: int = 100,
    init_seconds: float = 0.3,
    task_seconds: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The Steamship emulator as an ASGI app; state persists to ``data_dir/steamship.json`` if given."""
    engine = _Engine(
        JsonStore(data_dir, "steamship"), api_key, page_size_max, init_seconds, task_seconds, clock
    )
    app = Starlette(routes=[Route("/api/v1/{operation:path}", engine.endpoint, methods=["GET", "POST"])])
    app.state.engine = engine
    return app
