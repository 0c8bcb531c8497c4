"""Signaloid cloud storage, emulated as the seed describes it (Files; see docs/stack-format.md).

- ``GET /files?path=DIR&startKey=K``: everything under ``DIR`` (recursive, sorted by path; the
  root listing starts with the root's own item ``""``), ``{count, items, nextContinuationToken?}``,
  ``page_size`` items a page; each item ``{path, last_modified (ms), size, etag}`` with S3's quoted
  MD5 etag; a directory is an item whose path ends in ``/`` (size 0, the empty MD5).
- ``GET /files/{path}``: a directory (``…/``) lists like the above; a file answers its own item,
  or its bytes with ``?download=true``; 404 when there is none.
- ``PUT /files/{path}?size=N``: no body, answers ``{message, upload_url}``; the bytes then go to
  ``upload_url`` (``PUT``), which this emulator serves on another path (``/_storage/upload/…``,
  a presigned-looking URL with an expiry and a signature in its query). That URL takes no
  credentials: a request carrying an ``Authorization`` header, or the API key anywhere, gets 403,
  and is counted (``key_sent_to_upload_url``). A body of another size than announced → 400.
  ``PUT /files/{path}?directory=true`` makes a directory.
- ``DELETE /files/{path}``: a file; with ``directory=true`` a directory, which must be empty
  unless ``recursive=true`` (then everything under it goes); 404 when nothing is there.
- Faults for tests (``upload_fault``, the next ``upload_fault_count`` uploads): ``timeout`` (the
  bytes are stored, then the answer hangs ``upload_hang_s``: a lost response), ``timeout-before``
  (hangs without storing), ``403`` (refused, nothing stored).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox.signaloid_rules import ApiError, parse_flag

__all__ = ["UPLOAD_FAULTS", "Storage"]

EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
MAX_FILE_BYTES = 1024 * 2**20
UPLOAD_TTL_S = 900
UPLOAD_FAULTS = ("timeout", "timeout-before", "403")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_path(path: str, *, folder: bool = False) -> None:
    if path.startswith("/") or "\\" in path or any(ord(c) < 32 for c in path):
        raise ApiError(400, f"Invalid path {path!r}: relative to the storage root, no control characters")
    segments = path.removesuffix("/").split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise ApiError(400, f"Invalid path {path!r}: empty, '.' or '..' segment")
    if not folder and path.endswith("/"):
        raise ApiError(400, f"Invalid path {path!r}: a file path does not end in '/'")


class Storage:
    """One account's storage per user: ``data["files"][uid][path] = {size, etag, last_modified}``,
    the bytes in ``<data_dir>/signaloid-blobs/<md5>`` (or memory)."""

    def __init__(
        self,
        data: dict[str, Any],
        save: Callable[[], None],
        user: Callable[[Request], str],
        data_dir: Path | None,
        page_size: int,
        api_key: str | None,
        upload_fault: str | None = None,
        upload_fault_count: int = 1,
        upload_hang_s: float = 30.0,
    ) -> None:
        if upload_fault is not None and upload_fault not in UPLOAD_FAULTS:
            raise ValueError(f"upload_fault must be one of {', '.join(UPLOAD_FAULTS)}, got {upload_fault!r}")
        data.setdefault("files", {})
        data.setdefault("uploads", {})
        data.setdefault("upload_secret", secrets.token_hex(16))
        self.data, self.save, self.user = data, save, user
        self.blob_dir = data_dir / "signaloid-blobs" if data_dir is not None else None
        self.blobs: dict[str, bytes] = {}
        self.page_size = page_size
        self.api_key = api_key
        self.fault, self.faults_left, self.hang_s = upload_fault, upload_fault_count, upload_hang_s
        self.key_sent_to_upload_url = 0
        self.uploads_received = 0

    # -- plumbing ---------------------------------------------------------------------------------

    def _files(self, uid: str) -> dict[str, dict[str, Any]]:
        files: dict[str, dict[str, Any]] = self.data["files"].setdefault(uid, {})
        return files

    def _item(self, path: str, entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "path": path,
            "last_modified": entry["last_modified"],
            "size": entry["size"],
            "etag": entry["etag"],
        }

    def _listing(self, uid: str, folder: str, start_key: str | None) -> dict[str, Any]:
        prefix = folder if folder == "" or folder.endswith("/") else folder + "/"
        files = self._files(uid)
        paths = sorted(p for p in files if p.startswith(prefix))
        items = [self._item("", {"last_modified": 0, "size": 0, "etag": EMPTY_ETAG})] if prefix == "" else []
        items += [self._item(p, files[p]) for p in paths]
        if start_key:
            try:
                after = base64.urlsafe_b64decode(start_key.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "startKey is not a nextContinuationToken returned by this API") from None
            items = [i for i in items if i["path"] > after]
        page = items[: self.page_size]
        body: dict[str, Any] = {"count": len(page), "items": page}
        if len(items) > self.page_size:
            body["nextContinuationToken"] = base64.urlsafe_b64encode(page[-1]["path"].encode()).decode()
        return body

    def _put_blob(self, md5: str, data: bytes) -> None:
        if self.blob_dir is None:
            self.blobs[md5] = data
            return
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        (self.blob_dir / md5).write_bytes(data)

    def _blob(self, md5: str) -> bytes:
        if self.blob_dir is None:
            return self.blobs.get(md5, b"")
        target = self.blob_dir / md5
        return target.read_bytes() if target.is_file() else b""

    def _signature(self, token: str, expires: int) -> str:
        key = self.data["upload_secret"].encode()
        return hmac.new(key, f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()

    # -- the API ----------------------------------------------------------------------------------

    async def list_files(self, request: Request) -> JSONResponse:
        uid = self.user(request)
        folder = request.query_params.get("path", "")
        if folder:
            _check_path(folder, folder=True)
        return JSONResponse(self._listing(uid, folder, request.query_params.get("startKey")))

    async def get_file(self, request: Request) -> Response:
        uid = self.user(request)
        path = request.path_params["path"]
        if path == "":
            return JSONResponse(self._listing(uid, "", request.query_params.get("startKey")))
        _check_path(path, folder=True)
        files = self._files(uid)
        if path.endswith("/"):
            if path not in files and not any(p.startswith(path) for p in files):
                raise ApiError(404, f"No such directory: {path}")
            return JSONResponse(self._listing(uid, path, request.query_params.get("startKey")))
        entry = files.get(path)
        if entry is None:
            raise ApiError(404, f"No such file: {path}")
        if parse_flag("download", request.query_params.get("download")):
            return Response(self._blob(entry["etag"].strip('"')), media_type="application/octet-stream")
        return JSONResponse({"count": 1, "items": [self._item(path, entry)]})

    async def put_file(self, request: Request) -> JSONResponse:
        uid = self.user(request)
        path = request.path_params["path"]
        if parse_flag("directory", request.query_params.get("directory")):
            _check_path(path, folder=True)
            folder = path if path.endswith("/") else path + "/"
            self._files(uid).setdefault(folder, {"size": 0, "etag": EMPTY_ETAG, "last_modified": _now_ms()})
            self.save()
            return JSONResponse({"message": f"Directory {folder} created"})
        _check_path(path)
        raw = request.query_params.get("size")
        if raw is None or not raw.isdigit():
            raise ApiError(400, "size (the file's size in bytes, an integer) is required for a file upload")
        size = int(raw)
        if size > MAX_FILE_BYTES:
            raise ApiError(400, f"size {size} is larger than the {MAX_FILE_BYTES} bytes a file may have")
        token = secrets.token_urlsafe(18)
        expires = int(time.time()) + UPLOAD_TTL_S
        self.data["uploads"][token] = {"uid": uid, "path": path, "size": size, "expires": expires}
        self.save()
        # Where this app is mounted (``/signaloid`` under ``sandbox serve``) is in root_path.
        base = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")
        signature = self._signature(token, expires)
        url = f"{base}/_storage/upload/{token}?X-Expires={expires}&X-Signature={signature}"
        return JSONResponse({"message": "Upload URL created", "upload_url": url})

    async def delete_file(self, request: Request) -> JSONResponse:
        uid = self.user(request)
        path = request.path_params["path"]
        files = self._files(uid)
        directory = parse_flag("directory", request.query_params.get("directory"))
        recursive = parse_flag("recursive", request.query_params.get("recursive"))
        if not directory:
            if recursive:
                raise ApiError(400, "recursive is valid only for directories (add directory=true)")
            _check_path(path)
            if path not in files:
                if any(p.startswith(path + "/") for p in files):
                    raise ApiError(400, f"{path} is a directory: delete it with directory=true")
                raise ApiError(404, f"No such file: {path}")
            del files[path]
            self.save()
            return JSONResponse({"message": "OK"})
        _check_path(path, folder=True)
        folder = path if path.endswith("/") else path + "/"
        under = [p for p in files if p.startswith(folder)]
        if not under:
            raise ApiError(404, f"No such directory: {folder}")
        if any(p != folder for p in under) and not recursive:
            raise ApiError(
                400, f"Directory {folder} is not empty (add recursive=true to delete its contents)"
            )
        for p in under:
            del files[p]
        self.save()
        return JSONResponse({"message": "OK"})

    async def upload(self, request: Request) -> Response:
        """The presigned upload URL: no credentials accepted, the signature and expiry checked."""
        self.uploads_received += 1
        carried = [v for k, v in request.headers.items() if k.lower() == "authorization"]
        if self.api_key:
            carried += [v for v in [*request.headers.values(), str(request.url)] if self.api_key in v]
        if carried:
            self.key_sent_to_upload_url += 1
            return JSONResponse(
                {"message": "Forbidden: the upload URL takes no credentials"}, status_code=403
            )
        token = request.path_params["token"]
        pending = self.data["uploads"].get(token)
        try:
            expires = int(request.query_params.get("X-Expires", ""))
        except ValueError:
            expires = 0
        signature = request.query_params.get("X-Signature", "")
        if (
            pending is None
            or expires != pending["expires"]
            or not hmac.compare_digest(signature, self._signature(token, expires))
        ):
            return JSONResponse({"message": "Forbidden: the signature does not match"}, status_code=403)
        if time.time() > expires:
            return JSONResponse({"message": "Forbidden: the upload URL has expired"}, status_code=403)
        fault = self._take_fault()
        if fault == "403":
            return JSONResponse({"message": "Forbidden: injected fault"}, status_code=403)
        if fault == "timeout-before":
            await asyncio.sleep(self.hang_s)
            return JSONResponse({"message": "Gateway Timeout: injected fault"}, status_code=504)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > pending["size"]:
                break
        if len(body) != pending["size"]:
            return JSONResponse(
                {"message": f"the body has {len(body)} bytes, not the {pending['size']} announced"},
                status_code=400,
            )
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        self._put_blob(md5, bytes(body))
        files = self._files(pending["uid"])
        files[pending["path"]] = {"size": len(body), "etag": f'"{md5}"', "last_modified": _now_ms()}
        self.save()
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
        return Response(status_code=200, headers={"ETag": f'"{md5}"'})

    def _take_fault(self) -> str | None:
        if self.fault is None or self.faults_left <= 0:
            return None
        self.faults_left -= 1
        return self.fault

    async def stats(self, request: Request) -> JSONResponse:
        """For tests: what the upload URL saw (``GET /_storage/stats``)."""
        return JSONResponse(
            {"uploads_received": self.uploads_received, "key_sent_to_upload_url": self.key_sent_to_upload_url}
        )

    def routes(self) -> list[Route]:
        return [
            Route("/files", self.list_files, methods=["GET"]),
            Route("/files/{path:path}", self.get_file, methods=["GET"]),
            Route("/files/{path:path}", self.put_file, methods=["PUT"]),
            Route("/files/{path:path}", self.delete_file, methods=["DELETE"]),
            Route("/_storage/upload/{token}", self.upload, methods=["PUT"]),
            Route("/_storage/stats", self.stats, methods=["GET"]),
        ]
