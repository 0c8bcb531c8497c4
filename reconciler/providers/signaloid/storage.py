"""Signaloid cloud storage (the ``files`` kind): list, upload in two steps, delete.

- List: ``GET /files?startKey=`` from the root (everything, recursive), paged by
  ``nextContinuationToken``; directories (paths ending in ``/``, and the root ``""``) are not
  files and are skipped. A file's ``etag`` is S3's quoted MD5 (compared as such).
- Upload: ``PUT /files/{path}?size=N`` with our key answers an ``upload_url``; the bytes go there
  through :attr:`bare`, a client that carries no credentials at all (the URL is presigned and
  usually another host: the API key never travels there). The URL's query is a signature: it is
  registered with the redaction of logs and never shown (errors show ``safe_url``). The file is
  read in chunks twice, never whole: once to check it still has the etag the plan showed, once
  streamed to the URL (hashed again on the way, so what was sent is what was planned).
- A lost answer from the upload URL (timeout, reset, 5xx) is checked by listing the file's folder:
  when the file is there with our etag, the upload landed; only otherwise is it sent again
  (through a fresh upload URL), at most ``UPLOAD_ATTEMPTS`` times in all.
- Delete: ``DELETE /files/{path}`` of one file; a file already gone is not an error. Never a
  folder, never recursive: only files the stack uploaded are deleted, one by one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from reconciler.common.redact import redact, remember, safe_url
from reconciler.errors import ProviderError, TransportError, api_error_for_status
from reconciler.kinds.files import KIND as FILES
from reconciler.kinds.files import etag_of
from reconciler.packages.tree import LocalEntry, TreeProblem, read_chunks
from reconciler.providers.http import ApiClient, check_endpoint, next_page, paged, parsing
from reconciler.values import LiveObject

__all__ = ["UPLOAD_ATTEMPTS", "CloudStorage", "parse_file"]

UPLOAD_ATTEMPTS = 3
_ANSWER_BYTES = 4096  # of an upload URL's answer, read for its error message at most


def parse_file(item: Any) -> LiveObject | None:
    """A listed storage item as a ``files`` object; None for a directory."""
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise ProviderError(f"signaloid returned a storage item without a path: {str(item)[:200]!r}")
    path = item["path"]
    if path == "" or path.endswith("/"):
        return None
    etag = item.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith('"'):
        etag = f'"{etag}"'  # an unquoted etag is the same MD5
    attrs = {"path": path, "size": item.get("size"), "etag": etag.lower() if isinstance(etag, str) else etag}
    return FILES.live(path, attrs, path, fingerprint_source=f"{etag}:{item.get('size')}")


def _url_path(path: str) -> str:
    return "/files/" + quote(path, safe="/")


class CloudStorage:
    def __init__(
        self,
        http: ApiClient,
        bare: Callable[[], httpx2.AsyncClient],
        *,
        check_urls: bool,
        insecure_ok: bool,
    ) -> None:
        """``bare``: builds the credential-free client for upload URLs, on the first upload (a
        client with its own pool costs ~0.1 ms to build, which every stack of a fleet would pay
        for nothing). ``check_urls``: hold an upload URL to the endpoint rules (TLS, or loopback),
        as for any API; off for the in-process sandbox."""
        self.http, self._make_bare = http, bare
        self._bare: httpx2.AsyncClient | None = None
        self.check_urls, self.insecure_ok = check_urls, insecure_ok

    @property
    def bare(self) -> httpx2.AsyncClient:
        if self._bare is None:
            self._bare = self._make_bare()
        return self._bare

    async def aclose(self) -> None:
        if self._bare is not None:
            await self._bare.aclose()

    async def list(self, sink: Callable[[list[LiveObject]], None], folder: str = "") -> None:
        call = "signaloid GET /files"
        seen: set[str] = set()

        async def fetch(token: str | None) -> tuple[list[Any], str | None]:
            params = ({"path": folder} if folder else {}) | ({"startKey": token} if token else {})
            page = await self.http.json("GET", "/files", params=params)
            if not isinstance(page, Mapping) or not isinstance(page.get("items"), list):
                raise ProviderError(f"{call} returned an unexpected page (no items list)")
            return page["items"], next_page(
                call, page.get("nextContinuationToken"), seen, "nextContinuationToken"
            )

        async def on_page(items: list[Any]) -> None:
            with parsing(call):
                sink([obj for obj in map(parse_file, items) if obj is not None])

        await paged(fetch, on_page)

    async def _listed(self, path: str) -> LiveObject | None:
        """The file at ``path`` as its folder's listing shows it now, or None."""
        folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
        found: list[LiveObject] = []
        await self.list(lambda objects: found.extend(o for o in objects if o.remote_id == path), folder)
        return found[-1] if found else None

    async def upload(self, attrs: Mapping[str, Any]) -> LiveObject:
        path, size, etag = str(attrs["path"]), int(attrs["size"]), str(attrs["etag"])
        entry = LocalEntry(path, Path(str(attrs["source_file"])), False, size, False)
        shown = attrs.get("source") or entry.path
        try:
            now = await asyncio.to_thread(etag_of, read_chunks(entry))
        except TreeProblem as exc:
            raise ProviderError(f"files: {exc}") from None
        if now != etag:
            raise ProviderError(f"files: {shown} changed since the plan (its MD5 is now {now}); plan again")
        last: ProviderError | None = None
        for _ in range(UPLOAD_ATTEMPTS):
            url = await self._upload_url(path, size)
            try:
                sent = await self._send(url, entry, shown, etag)
            except TransportError as exc:
                last = exc
                landed = await self._listed(path)  # the answer was lost: did the bytes land?
                if landed is not None and landed.attrs.get("etag") == etag:
                    return landed
                continue
            if sent is not None and sent.strip('"').lower() != etag.strip('"'):
                raise ProviderError(
                    f"files: storage answered etag {sent[:80]!r} for {path}, not {etag} as sent"
                )
            return FILES.live(path, {"path": path, "size": size, "etag": etag}, path, f"{etag}:{size}")
        assert last is not None
        raise ProviderError(
            f"{last}; gave up after {UPLOAD_ATTEMPTS} attempts (the file is not there)"
        ) from last

    async def _upload_url(self, path: str, size: int) -> str:
        call = f"signaloid PUT {_url_path(path)}"
        answer = await self.http.json("PUT", _url_path(path), params={"size": str(size)}, idempotent=True)
        url = answer.get("upload_url") if isinstance(answer, Mapping) else None
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ProviderError(f"{call} answered no usable upload_url")
        remember([url, urlsplit(url).query])  # a presigned signature: kept out of every log
        if self.check_urls:
            check_endpoint("signaloid upload URL", url, self.insecure_ok)
        return url

    async def _send(self, url: str, entry: LocalEntry, shown: Any, planned: str) -> str | None:
        """PUT the file's bytes to ``url`` with no credentials; the answer's ETag header, if any.
        The bytes are hashed on the way: they must be the ``planned`` etag's."""
        call = f"signaloid upload PUT {safe_url(url)}"
        md5 = hashlib.md5(usedforsecurity=False)

        async def body() -> AsyncIterator[bytes]:
            chunks = read_chunks(entry)
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                md5.update(chunk)
                yield chunk

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(entry.size)}
        try:
            async with self.bare.stream("PUT", url, content=body(), headers=headers) as response:
                status = response.status_code
                answer = b""
                async for chunk in response.aiter_bytes():
                    answer += chunk
                    if len(answer) >= _ANSWER_BYTES:
                        break
                etag = response.headers.get("etag")
        except TreeProblem as exc:
            raise ProviderError(f"files: {exc}") from None
        except httpx2.HTTPError as exc:
            raise TransportError(f"{call}: {type(exc).__name__}; the upload's answer was lost") from None
        if status >= 500:
            raise TransportError(f"{call}: HTTP {status}")
        if status >= 300:
            text = redact(" ".join(answer[:300].decode("utf-8", "replace").split()))
            raise api_error_for_status(
                status, f"the upload URL refused {shown}: {text or 'no message'}", call
            )
        if f'"{md5.hexdigest()}"' != planned:
            raise ProviderError(f"files: {shown} changed while it was being sent; plan again")
        return etag
