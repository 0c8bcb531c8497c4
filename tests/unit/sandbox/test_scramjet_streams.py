"""The hub emulator's streams over a real socket: ``/output``, ``/stdout`` and ``/log`` stay open (as
on Transform Hub 0.18.7) and carry what comes after the request; they end with their instance."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from reconciler.sandbox import scramjet
from reconciler.sandbox.scramjet import create_app
from tests.support.scramjet_packages import API, UPLOAD, make_package
from tests.support.servers import serve_app


@pytest.fixture
def base() -> Iterator[str]:
    with serve_app(create_app(profile="hub-0.18.7")) as url:
        yield f"{url}{API}"


def started(base: str) -> str:
    seq = httpx2.post(f"{base}/sequence", content=make_package(), headers=UPLOAD).json()["id"]
    return str(httpx2.post(f"{base}/sequence/{seq}/start", json={}).json()["id"])


def read_for(
    base: str, path: str, seconds: float, during: threading.Thread | None = None
) -> tuple[int, str, bytes, bool]:
    """(status, content type, bytes read, whether the stream ended) after ``seconds`` of reading."""
    data, ended = b"", False
    with httpx2.stream("GET", f"{base}{path}", timeout=httpx2.Timeout(5.0, read=seconds)) as resp:
        if during is not None:
            during.start()
        try:
            for chunk in resp.iter_bytes():
                data += chunk
            ended = True
        except httpx2.ReadTimeout:
            pass
        return resp.status_code, resp.headers["content-type"], data, ended


def later(seconds: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    return threading.Thread(target=run)


def test_output_stays_open_and_carries_what_the_instance_is_given(base: str) -> None:
    inst = started(base)
    send = later(
        0.2,
        lambda: httpx2.post(
            f"{base}/instance/{inst}/input", content="hi\n", headers={"content-type": "text/plain"}
        ),
    )
    status, ctype, data, ended = read_for(base, f"/instance/{inst}/output", 1.0, send)
    assert (status, ctype, ended) == (200, "application/octet-stream", False)
    assert data == b'"hi\\n"\n'  # what a passthrough sequence yields, JSON-encoded as the hub does


def test_stdout_stays_open(base: str) -> None:
    inst = started(base)
    assert read_for(base, f"/instance/{inst}/stdout", 0.5)[::3] == (200, False)


def test_the_hub_log_stays_open_and_follows(base: str) -> None:
    status, ctype, data, ended = read_for(base, "/log", 1.0, later(0.2, lambda: started(base)))
    assert (status, ctype, ended) == (200, "application/octet-stream", False)
    messages = [json.loads(line)["msg"] for line in data.decode().splitlines()]
    assert "Instance started" in messages  # written after the request was made


def test_a_stream_ends_when_its_instance_is_gone(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scramjet, "KILL_LINGER_S", 0.1)
    inst = started(base)

    kill = later(0.1, lambda: httpx2.post(f"{base}/instance/{inst}/_kill", json={}))
    assert read_for(base, f"/instance/{inst}/output", 3.0, kill)[3] is True
