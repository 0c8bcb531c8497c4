"""Emulator of the Signaloid Cloud Compute Engine API: cores, connected repositories, webhooks.

Follows the real API as observed (ARCHITECTURE.md, "The three APIs") closely enough that the provider runs
unchanged against it and against ``https://api.signaloid.io``. Choices where the notes leave room
(documented once, here):

- Auth: ``Authorization: <raw key>``. No header → 401; a ``Bearer ...`` value → 401 (the real API
  takes the raw key); with ``api_key`` configured, any other key → 403 (what an API gateway answers
  for a rejected key). Each key is its own user (``usr_`` + a hash of the key), so two keys never
  see each other's objects. ``GET /health`` needs no key.
- Paging: at most ``page_size`` items per page, in creation order; ``ContinuationKey`` (the id of
  the page's last item) only when more items follow. It stays valid when that item is deleted.
- Path ids that do not match ``cor_``/``rep_`` + 32 characters → 400; well-formed unknown ids → 404.
- Default cores (``Owner: "signaloid"``) are seen only with ``default=true`` (list and get);
  PATCH of one → 403; DELETE of one → 400 (the seed lists 400 and 404 for Delete Core, not 403).
- PATCH /cores/{id} takes all six fields (the seed marks each required, as the SDK's
  ``CorePatchRequest`` does): a body with only some → 400 naming the missing ones.
- Cloud storage (``/files``, the upload URL): ``signaloid_storage.py``.
- Connecting a RemoteURL + Branch that is already connected (also by PATCH) → 409.
- Repository fields that are unset read ``Arguments: ""``, ``Core: null``, ``DataSources: []``,
  ``TraceVariables: []``. A webhook created without description reads ``Description: ""``.
- A PATCH that changes nothing → 400, also when a retry repeats a PATCH that already took effect.
- Unknown body fields → 400 naming them (catches a provider sending the wrong spelling).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.sandbox.signaloid_casing import CASINGS, camel_keys
from reconciler.sandbox.signaloid_rules import (
    DEFAULT_CORES,
    REPOSITORY_FIELDS,
    ApiError,
    check_id,
    check_precision,
    health_details,
    parse_body,
    parse_flag,
    parse_remove,
    validate_core,
    validate_repository,
    validate_webhook,
)
from reconciler.sandbox.signaloid_storage import Storage
from reconciler.sandbox.store import JsonStore

__all__ = ["create_app"]

OK = {"message": "OK"}
DEFAULT_CORE_IDS = frozenset(core["CoreID"] for core in DEFAULT_CORES)
Handler = Callable[[Request], Awaitable[JSONResponse]]


def _empty_data() -> dict[str, Any]:
    # Lists keep creation order (the store writes keys sorted, so dicts would not);
    # "_seq" on each item and "tombstones" of deleted ids make continuation keys stable.
    return {"created_at": int(time.time()), "seq": 0, "cores": [], "repositories": [], "webhooks": [],
            "tombstones": {}}  # fmt: skip


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Emulator:
    """The API's state (one plain dict, persisted whole after each change) and its handlers."""

    def __init__(
        self,
        data_dir: Path | None,
        api_key: str | None,
        page_size: int,
        casing: str,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if casing not in CASINGS:
            raise ValueError(f"casing must be one of {', '.join(CASINGS)}, got {casing!r}")
        self.casing = casing
        self.store = JsonStore(data_dir, "signaloid")
        self.data = self.store.load(_empty_data())
        self.api_key = api_key
        self.page_size = page_size
        self.storage = Storage(
            self.data, self._save, self._user, data_dir, page_size, api_key, **(storage_options or {})
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def _user(self, request: Request) -> str:
        key = request.headers.get("authorization", "").strip()
        if not key:
            raise ApiError(401, "Unauthorized: send the API key in the Authorization header")
        if key.lower().startswith("bearer "):
            raise ApiError(401, "Unauthorized: send the raw API key, without 'Bearer'")
        if self.api_key is not None and key != self.api_key:
            raise ApiError(403, "Forbidden: the API key is not valid")
        return "usr_" + hashlib.sha256(key.encode()).hexdigest()[:32]

    def _out(self, item: dict[str, Any]) -> dict[str, Any]:
        """An object as answered: private keys dropped, in this emulator's casing."""
        public = _public(item)
        return camel_keys(public) if self.casing == "camel" else public

    def _save(self) -> None:
        self.store.save(self.data)

    def _next_seq(self) -> int:
        self.data["seq"] += 1
        return int(self.data["seq"])

    def _owned(self, collection: str, uid: str) -> list[dict[str, Any]]:
        owner = "_Owner" if collection == "webhooks" else "Owner"
        return [item for item in self.data[collection] if item[owner] == uid]

    def _find(self, collection: str, id_field: str, item_id: str, uid: str) -> dict[str, Any]:
        for item in self._owned(collection, uid):
            if item[id_field] == item_id:
                return item
        raise ApiError(404, f"{id_field} {item_id} not found")

    def _delete(self, collection: str, item: dict[str, Any], id_field: str) -> None:
        self.data[collection].remove(item)
        if "_seq" in item:
            self.data["tombstones"][item[id_field]] = item["_seq"]
        self._save()

    def _page(self, items: list[dict[str, Any]], id_field: str, request: Request) -> dict[str, Any]:
        """One page of ``items``, starting after ``startKey``, with ``Count`` and ``ContinuationKey``."""
        after = -1
        start_key = request.query_params.get("startKey")
        if start_key:
            seqs = {item[id_field]: item["_seq"] for item in items}
            after = seqs.get(start_key, self.data["tombstones"].get(start_key, -2))
            if after == -2:
                raise ApiError(400, f"startKey {start_key!r} is not a ContinuationKey returned by this API")
        rest = [item for item in items if item["_seq"] > after]
        page = rest[: self.page_size]
        body: dict[str, Any] = {"Count": len(page), "items": [self._out(item) for item in page]}
        if len(rest) > self.page_size:
            body["ContinuationKey"] = page[-1][id_field]
        return body

    # -- health and user --------------------------------------------------------------------------

    async def health(self, request: Request) -> JSONResponse:
        now = _iso_now()
        checks = [
            {"service": s, "status": "healthy", "timestamp": now, "details": d} for s, d in health_details()
        ]
        return JSONResponse({"timestamp": now, "services": checks})

    async def users_me(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        usage = {
            "CoreCount": len(self._owned("cores", uid)),
            "RepositoryCount": len(self._owned("repositories", uid)),
        }
        return JSONResponse(
            {
                "Object": "User",
                "UserID": uid,
                "Username": "sandbox@localhost",
                "CreatedAt": self.data["created_at"],
                "Preferences": {"UpdatedAt": self.data["created_at"]},
                "ResourceUsage": usage,
            }
        )

    # -- cores ------------------------------------------------------------------------------------

    async def list_cores(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        if parse_flag("default", request.query_params.get("default")):
            items = [{**core, "_seq": i} for i, core in enumerate(DEFAULT_CORES)]
        else:
            items = self._owned("cores", uid)
        page = self._page(items, "CoreID", request)
        return JSONResponse({"UserID": uid, "Cores": page.pop("items"), **page})

    async def get_core(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        core_id = request.path_params["id"]
        check_id("CoreID", core_id)
        if parse_flag("default", request.query_params.get("default")):
            for core in DEFAULT_CORES:
                if core["CoreID"] == core_id:
                    return JSONResponse(self._out(core))
            raise ApiError(404, f"CoreID {core_id} is not a default core")
        return JSONResponse(self._out(self._find("cores", "CoreID", core_id, uid)))

    async def create_core(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        fields = validate_core(parse_body(await request.body()), partial=False)
        check_precision(fields)
        now = int(time.time())
        core = {
            "Object": "Core",
            "CoreID": f"cor_{uuid.uuid4().hex}",
            "Owner": uid,
            "CreatedAt": now,
            "UpdatedAt": now,
            **{name: fields[name] for name in ("Name", "Class", "Microarchitecture", "CorrelationTracking")},
            "MemorySize": fields["MemorySize"],
            "Precision": fields["Precision"],
            "_seq": self._next_seq(),
        }
        self.data["cores"].append(core)
        self._save()
        return JSONResponse(self._out(core), status_code=201)

    def _custom_core(self, request: Request, uid: str, verb: str, status: int) -> dict[str, Any]:
        core_id = request.path_params["id"]
        check_id("CoreID", core_id)
        if core_id in DEFAULT_CORE_IDS:
            raise ApiError(
                status, f"CoreID {core_id} is a default core (managed by Signaloid): cannot be {verb}"
            )
        return self._find("cores", "CoreID", core_id, uid)

    async def update_core(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        core = self._custom_core(request, uid, "updated", 403)
        fields = validate_core(parse_body(await request.body()), partial=False)
        check_precision({**core, **fields})
        if all(core[name] == value for name, value in fields.items()):
            raise ApiError(400, "The request must change at least one field of the core")
        core.update(fields, UpdatedAt=int(time.time()))
        self._save()
        return JSONResponse(OK)

    async def delete_core(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        self._delete("cores", self._custom_core(request, uid, "deleted", 400), "CoreID")
        return JSONResponse(OK)

    # -- repositories -----------------------------------------------------------------------------

    def _check_core_exists(self, uid: str, core_id: str) -> None:
        if core_id in DEFAULT_CORE_IDS or any(c["CoreID"] == core_id for c in self._owned("cores", uid)):
            return
        raise ApiError(400, f"Core {core_id} does not exist (neither a default core nor one of yours)")

    def _check_not_connected(self, uid: str, url: str, branch: str, exclude: str | None = None) -> None:
        for repo in self._owned("repositories", uid):
            if repo["RemoteURL"] == url and repo["Branch"] == branch and repo["RepositoryID"] != exclude:
                raise ApiError(
                    409, f"RemoteURL {url} branch {branch} is already connected as {repo['RepositoryID']}"
                )

    async def list_repositories(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        page = self._page(self._owned("repositories", uid), "RepositoryID", request)
        return JSONResponse({"UserID": uid, "Repositories": page.pop("items"), **page})

    async def lookup_repository(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        url, branch = request.query_params.get("remoteURL"), request.query_params.get("branch")
        if not url or not branch:
            raise ApiError(400, "Query parameters remoteURL and branch are both required")
        for repo in self._owned("repositories", uid):
            if repo["RemoteURL"] == url and repo["Branch"] == branch:
                return JSONResponse(self._out({"RepositoryID": repo["RepositoryID"]}))
        raise ApiError(404, f"No repository connected for remoteURL {url} branch {branch}")

    def _repository(self, request: Request, uid: str) -> dict[str, Any]:
        repo_id = request.path_params["id"]
        check_id("RepositoryID", repo_id)
        return self._find("repositories", "RepositoryID", repo_id, uid)

    async def get_repository(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        return JSONResponse(self._out(self._repository(request, uid)))

    async def create_repository(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        fields = validate_repository(parse_body(await request.body()), partial=False)
        if "Core" in fields:
            self._check_core_exists(uid, fields["Core"])
        self._check_not_connected(uid, fields["RemoteURL"], fields["Branch"])
        now = int(time.time())
        repo = {
            "Object": "Repository",
            "RepositoryID": f"rep_{uuid.uuid4().hex}",
            "Owner": uid,
            **{name: fields[name] for name in ("RemoteURL", "Commit", "Branch", "BuildDirectory")},
            "Arguments": fields.get("Arguments", ""),
            "Core": fields.get("Core"),
            "DataSources": fields.get("DataSources", []),
            "TraceVariables": fields.get("TraceVariables", []),
            "CreatedAt": now,
            "UpdatedAt": now,
            "_seq": self._next_seq(),
        }
        self.data["repositories"].append(repo)
        self._save()
        return JSONResponse(self._out(repo), status_code=201)

    async def update_repository(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        repo = self._repository(request, uid)
        remove = parse_remove(request.query_params.getlist("remove"))
        body = parse_body(await request.body())
        if remove and body:
            raise ApiError(400, f"remove= cannot be combined with body fields ({', '.join(sorted(body))})")
        if remove:
            changes: dict[str, Any] = {name: None if name == "Core" else [] for name in remove}
        else:
            changes = validate_repository(body, partial=True)
            if not changes:
                raise ApiError(400, f"Request body must set at least one of: {', '.join(REPOSITORY_FIELDS)}")
        if changes.get("Core") is not None:
            self._check_core_exists(uid, changes["Core"])
        if all(repo[name] == value for name, value in changes.items()):
            raise ApiError(400, "The request must change at least one field of the repository")
        merged = {**repo, **changes}
        self._check_not_connected(uid, merged["RemoteURL"], merged["Branch"], exclude=repo["RepositoryID"])
        repo.update(changes, UpdatedAt=int(time.time()))
        self._save()
        return JSONResponse(self._out(repo))  # the reference's sample answers with the repository

    async def delete_repository(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        self._delete("repositories", self._repository(request, uid), "RepositoryID")
        return JSONResponse(OK)

    # -- webhooks ---------------------------------------------------------------------------------

    async def list_webhooks(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        webhooks = [self._out(w) for w in self._owned("webhooks", uid)]
        return JSONResponse({"webhooks": webhooks, "count": len(webhooks)})

    async def get_webhook(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        return JSONResponse(self._out(self._find("webhooks", "WebhookID", request.path_params["id"], uid)))

    async def create_webhook(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        fields = validate_webhook(parse_body(await request.body()), partial=False)
        now = _iso_now()
        webhook = {
            "Object": "webhook",
            "WebhookID": f"wh-{uuid.uuid4().hex}",
            "URL": fields["URL"],
            "Events": fields["Events"],
            "Description": fields.get("Description", ""),
            "Status": "active",
            "Secret": f"whsec_{secrets.token_hex(16)}",
            "CreatedAt": now,
            "UpdatedAt": now,
            "FailureCount": 0,
            "LastDeliveryStatus": None,
            "LastDeliveryTime": None,
            "_Owner": uid,
        }
        self.data["webhooks"].append(webhook)
        self._save()
        return JSONResponse(self._out(webhook), status_code=201)

    async def update_webhook(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        webhook = self._find("webhooks", "WebhookID", request.path_params["id"], uid)
        fields = validate_webhook(parse_body(await request.body()), partial=True)
        webhook.update(fields, UpdatedAt=_iso_now())
        self._save()
        return JSONResponse(self._out(webhook))

    async def delete_webhook(self, request: Request) -> JSONResponse:
        uid = self._user(request)
        webhook = self._find("webhooks", "WebhookID", request.path_params["id"], uid)
        self._delete("webhooks", webhook, "WebhookID")
        return JSONResponse(OK)

    def routes(self) -> list[Route]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/health", self.health),
            ("GET", "/users/me", self.users_me),
            ("GET", "/cores", self.list_cores),
            ("POST", "/cores", self.create_core),
            ("GET", "/cores/{id}", self.get_core),
            ("PATCH", "/cores/{id}", self.update_core),
            ("DELETE", "/cores/{id}", self.delete_core),
            ("GET", "/repositories", self.list_repositories),
            ("POST", "/repositories", self.create_repository),
            ("GET", "/repositories/lookup", self.lookup_repository),
            ("GET", "/repositories/{id}", self.get_repository),
            ("PATCH", "/repositories/{id}", self.update_repository),
            ("DELETE", "/repositories/{id}", self.delete_repository),
            ("GET", "/webhooks", self.list_webhooks),
            ("POST", "/webhooks", self.create_webhook),
            ("GET", "/webhooks/{id}", self.get_webhook),
            ("PUT", "/webhooks/{id}", self.update_webhook),
            ("DELETE", "/webhooks/{id}", self.delete_webhook),
        ]
        return [
            Route(path, handler, methods=[method]) for method, path, handler in table
        ] + self.storage.routes()


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"message": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"message": "Internal Server Error"}, status_code=500)


def create_app(
    data_dir: Path | None = None,
    *,
    api_key: str | None = None,
    page_size: int = 5,
    casing: str = "pascal",
    upload_fault: str | None = None,
    upload_fault_count: int = 1,
    upload_hang_s: float = 30.0,
) -> Starlette:
    """The Signaloid emulator as an ASGI app, its paths at the root (``/cores``, ``/webhooks``, ...).

    ``data_dir``: persist to ``<data_dir>/signaloid.json`` (loaded now, saved after every change);
    ``None`` keeps everything in memory. ``api_key``: accept only this key (else any key).
    ``page_size``: items per page of the paginated lists. ``casing``: ``pascal`` (the reference) or
    ``camel`` (the SDK's types) for the objects it answers with. ``upload_fault`` (with
    ``upload_fault_count`` and ``upload_hang_s``): a fault of the storage upload URL, for tests
    (``signaloid_storage.py``).
    """
    storage = {
        "upload_fault": upload_fault,
        "upload_fault_count": upload_fault_count,
        "upload_hang_s": upload_hang_s,
    }
    emulator = _Emulator(data_dir, api_key, page_size, casing, storage)
    return Starlette(
        routes=emulator.routes(),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
