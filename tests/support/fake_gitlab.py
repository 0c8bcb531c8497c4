"""A local stand-in for the GitLab REST API v4 endpoints the GitLab recipe calls, as GitLab documents
them (docs.gitlab.com/api/job_artifacts, /api/notes, /api/commits), so the recipe's real ``curl``
lines are checked against the URLs and behaviour of the real platform, not a stub that accepts
anything:

- every call needs the ``PRIVATE-TOKEN`` header (401 otherwise);
- ``POST /projects/:id/merge_requests/:iid/notes`` takes a JSON ``body`` (the MR note);
- ``GET /projects/:id/repository/commits/:sha/merge_requests``: the merged MR of a commit;
- ``GET /projects/:id/jobs/artifacts/:ref_name/raw/*path?job=NAME``: a file of the latest
  successful ``NAME`` job on ``ref_name``, a branch or tag name URL-encoded into one path segment.
  A merge-request pipeline runs on ``refs/merge-requests/<iid>/head`` (``…/merge`` for merged
  results), so its artifacts are found by that ref, never by the source branch's name (404). As on
  GitLab.com, the answer is a redirect to where the file is stored (a CDN): ``curl`` needs
  ``--location``.

Every request is recorded (method, raw path, query) for the test to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.support.servers import serve_app

__all__ = ["FakeGitLab", "fake_gitlab"]


@dataclass
class FakeGitLab:
    token: str
    project: str = "42"
    merged: dict[str, int] = field(default_factory=dict)  # commit sha -> merged MR iid
    artifacts: dict[tuple[str, str, str], bytes] = field(default_factory=dict)  # (ref, job, path)
    notes: list[tuple[int, str]] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, raw path, query)
    base: str = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method, raw = scope["method"], scope["raw_path"].decode("ascii")
        query = scope["query_string"].decode("ascii")
        self.calls.append((method, raw, query))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, payload, extra = self._answer(method, raw, query, headers, body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *extra]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    def _answer(
        self, method: str, raw: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if raw.startswith("/cdn/"):  # where the redirect points: no token needed there
            key = tuple(json.loads(unquote(raw.removeprefix("/cdn/"))))
            return 200, self.artifacts[key], []  # type: ignore[index]
        if headers.get("private-token") != self.token:
            return 401, b'{"message":"401 Unauthorized"}', []
        parts = raw.split("/")  # ['', 'api', 'v4', 'projects', ID, ...]
        if parts[:4] != ["", "api", "v4", "projects"] or parts[4] != self.project:
            return 404, b'{"message":"404 Project Not Found"}', []
        rest = parts[5:]
        if method == "POST" and rest[:1] == ["merge_requests"] and rest[2:] == ["notes"]:
            note = json.loads(body)
            self.notes.append((int(rest[1]), note["body"]))
            return 201, json.dumps({"id": len(self.notes), "body": note["body"]}).encode(), []
        if method == "GET" and rest[:2] == ["repository", "commits"] and rest[3:] == ["merge_requests"]:
            iid = self.merged.get(rest[2])
            found = [] if iid is None else [{"iid": iid, "state": "merged", "source_branch": "feature"}]
            return 200, json.dumps(found).encode(), []
        if method == "GET" and rest[:2] == ["jobs", "artifacts"] and len(rest) >= 5 and rest[3] == "raw":
            ref = unquote(rest[2])  # one segment: a ref holding "/" must be URL-encoded
            path = unquote("/".join(rest[4:]))
            job = parse_qs(query).get("job", [""])[0]
            if (ref, job, path) not in self.artifacts:
                return 404, b'{"message":"404 Not Found"}', []
            where = f"{self.base}/cdn/{json.dumps([ref, job, path])}"
            return 302, b"", [(b"location", where.replace(" ", "%20").encode())]
        return 404, b'{"error":"404 Not Found"}', []


@contextmanager
def fake_gitlab(token: str) -> Iterator[FakeGitLab]:
    gitlab = FakeGitLab(token)
    with serve_app(gitlab) as base:
        gitlab.base = base
        yield gitlab
