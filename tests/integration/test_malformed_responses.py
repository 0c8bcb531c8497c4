"""Issue 7.5: an API that answers nonsense. A tiny ASGI app per case is served on loopback in place of each
provider's API: the call a plan makes first answers with a non-JSON body, an HTML error page, an object
missing its id, wrong types, a list where an object is expected (or the reverse), a truncated body, a
200 carrying an error, or a pager that never ends. Every case must give exit 1 and one clear line on
stderr naming the API and the call, never a traceback."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.providers import http
from tests.support.cli import RunCli
from tests.support.servers import serve_app
from tests.support.signaloid import CORE

HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></html>"
COUNTER = Path(__file__).resolve().parents[1] / "support" / "sequences" / "counter"
FAST = {"max_retries": 1, "retry_budget_s": 2, "timeout_s": 5}


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | Callable[[int], bytes] = b""  # a callable gets the request's number on this route
    content_type: str = "application/json"


def js(value: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode())


class Scripted:
    """Answers ``(method, path)`` from a table; anything else gets the valid, empty default."""

    def __init__(self, table: dict[tuple[str, str], Answer], defaults: dict[tuple[str, str], Answer]) -> None:
        self.table, self.defaults = table, defaults
        self.counts: dict[tuple[str, str], itertools.count[int]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        key = (scope["method"], scope["path"])
        answer = self.table.get(key) or self.defaults.get(key) or js({"message": "no such route"}, 404)
        number = next(self.counts.setdefault(key, itertools.count()))
        body = answer.body(number) if callable(answer.body) else answer.body
        headers = [
            (b"content-type", answer.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Api:
    name: str  # as the error must name it
    list_call: tuple[str, str]  # the first list call of a plan: method, path (on the served app)
    shown_call: str  # how the error names that call
    defaults: dict[tuple[str, str], Answer]
    items_key: str | None  # the key of the list in a page object (None: the page IS the list)
    id_key: str
    pager: Callable[[int], bytes]  # a page whose continuation token never runs out


SIGNALOID = Api(
    "signaloid",
    ("GET", "/cores"),
    "GET /cores",
    {
        ("GET", "/cores"): js({"Cores": [], "ContinuationKey": None}),
        ("GET", "/repositories"): js({"Repositories": [], "ContinuationKey": None}),
        ("GET", "/webhooks"): js({"webhooks": [], "count": 0}),
    },
    "Cores",
    "CoreID",
    lambda n: json.dumps({"Cores": [], "ContinuationKey": f"page-{n + 1}"}).encode(),
)
STEAMSHIP = Api(
    "steamship",
    ("POST", "/api/v1/workspace/list"),
    "POST workspace/list",
    {
        ("POST", "/api/v1/workspace/list"): js({"data": {"workspaces": [], "nextPageToken": None}}),
        ("POST", "/api/v1/package/instance/list"): js(
            {"data": {"packageInstances": [], "nextPageToken": None}}
        ),
    },
    "workspaces",
    "id",
    lambda n: json.dumps({"data": {"workspaces": [], "nextPageToken": f"t{n + 1}"}}).encode(),
)
SCRAMJET = Api(
    "scramjet",
    ("GET", "/api/v1/sequences"),
    "GET /sequences",
    {
        ("GET", "/api/v1/sequences"): js([]),
        ("GET", "/api/v1/instances"): js([]),
        ("GET", "/api/v1/version"): js({"service": "@scramjetorg/host", "version": "0.28.0"}),
    },
    None,
    "id",
    lambda n: b"[]",  # not paged
)
APIS = {a.name: a for a in (SIGNALOID, STEAMSHIP, SCRAMJET)}


def cases(api: Api) -> dict[str, Answer]:
    def page(items: Any) -> Answer:
        if api.items_key is None:
            return js(items)
        if api.name == "steamship":
            return js({"data": {api.items_key: items, "nextPageToken": None}})
        return js({api.items_key: items, "ContinuationKey": None})

    found = {
        "non_json": Answer(200, b"hello, this is not JSON", "text/plain"),
        "html_200": Answer(200, HTML, "text/html"),
        "html_502": Answer(502, HTML, "text/html"),
        "html_404": Answer(404, HTML, "text/html"),
        "truncated": Answer(200, json.dumps({"x": [{"id": "abc", "name": "partial"}]}).encode()[:17]),
        "empty_body": Answer(200, b""),
        "list_not_object": js([{"unexpected": True}]) if api.items_key else js({"unexpected": True}),
        "scalar": js(42),
        "nested_100k_deep": Answer(200, b"[" * 100_000 + b"]" * 100_000),  # issue 18.9
        "nested_100k_deep_error": Answer(400, b'{"message":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "null": js(None),
        "error_shape_200": js({"error": "InternalError", "message": "something went wrong upstream"}),
        "missing_id": page([{"name": "no id here"}]),
        "wrong_id_type": page([{api.id_key: 12345, "name": ["not", "a", "string"]}]),
        "item_not_object": page(["just a string"]),
        "items_not_list": js(
            {"data": {api.items_key: "nope"}} if api.name == "steamship" else {api.items_key: 7}
        )
        if api.items_key
        else js({"sequences": []}),
    }
    if api.items_key:
        same_key = json.dumps(
            {"data": {api.items_key: [], "nextPageToken": "again"}}
            if api.name == "steamship"
            else {api.items_key: [], "ContinuationKey": "again"}
        ).encode()
        found["repeating_page_token"] = Answer(200, same_key)
        found["endless_page_tokens"] = Answer(200, api.pager)
    return found


CASES = [(api, case) for api in APIS for case in cases(APIS[api])]


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, Answer], Path]]:
    """``serve(api, answer)``: the scripted API on loopback, and a stack folder pointing at it."""
    with ExitStack() as stack:

        def run(api_name: str, answer: Answer) -> Path:
            api = APIS[api_name]
            url = stack.enter_context(serve_app(Scripted({api.list_call: answer}, api.defaults)))
            folder = tmp_path / "stack"
            folder.mkdir()
            doc: dict[str, Any] = {"version": 1}
            if api_name == "signaloid":
                monkeypatch.setenv("SIGNALOID_API_URL", url)
                monkeypatch.setenv("SIGNALOID_API_KEY", "malformed-test-key")
                doc["providers"] = {"signaloid": {"http": FAST}}
                doc["cores"] = {"c": dict(CORE)}
            elif api_name == "steamship":
                monkeypatch.setenv("STEAMSHIP_API_BASE", f"{url}/api/v1/")
                monkeypatch.setenv("STEAMSHIP_API_KEY", "malformed-test-key")
                doc["providers"] = {"steamship": {"http": FAST}}
                doc["workspaces"] = {"w": {}}
            else:
                shutil.copytree(COUNTER, folder / "counter")
                hub = {"url": f"{url}/api/v1", "http": FAST}
                doc["providers"] = {"scramjet": {"hubs": {"local": hub}, "health_check_s": 0}}
                doc["sequences"] = {"reconciler-test-counter": {"hub": "local", "package": "./counter"}}
            (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
            return folder

        yield run


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("api", "case"), CASES, ids=[f"{a}-{c}" for a, c in CASES])
def test_a_malformed_answer_is_one_clear_error(
    api: str,
    case: str,
    serve: Callable[[str, Answer], Path],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case == "endless_page_tokens":
        monkeypatch.setattr(http, "MAX_PAGES", 50)  # the real cap is 10,000 pages: too slow for a test
    folder = serve(api, cases(APIS[api])[case])
    result = run_cli(
        "plan", "-f", folder
    )  # an exception the CLI does not handle fails here, with its traceback
    assert result.exit_code == 1, result
    assert "Traceback" not in result.output, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result
    assert api in lines[0], f"the error must name the API: {lines[0]}"
    assert APIS[api].shown_call in lines[0], f"the error must name the call: {lines[0]}"
