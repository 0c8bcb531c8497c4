"""The fleet's transport (aiohttp under httpx2's seam) keeps every guarantee of the HTTP policy, on
real loopback sockets: the hostile servers of test_hostile_servers.py (an endless body, a declared
huge one, a trickle, a redirect) end the same way through it; a gzip bomb is cut after decoding; a
refused connection is "surely not sent" and a connection dropped mid-answer is not; a certificate
nobody trusts is refused; the request goes out with exactly the headers httpx2 built."""

from __future__ import annotations

import asyncio
import gzip
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from reconciler.errors import ApiError, ProviderError, TransportError
from reconciler.providers.connect import tls_for
from reconciler.providers.http import ApiClient, UncertainOutcome
from reconciler.providers.limits import MIB, Limits, ResponseTooLarge
from reconciler.providers.settings import HttpSettings
from reconciler.providers.transport import AiohttpTransport
from tests.support.hostile import Hostile
from tests.support.servers import closed_port, serve_app

SETTINGS = HttpSettings(timeout_s=5.0, max_retries=1, retry_budget_s=1.0)
KEY = "sk-transport-test-secret"
LIMITS = Limits(1 * MIB, 30.0)


@asynccontextmanager
async def policy(base: str, limits: Limits = LIMITS) -> AsyncIterator[ApiClient]:
    transport = AiohttpTransport(tls_for(base))
    client = httpx2.AsyncClient(base_url=base, transport=transport, headers={"Authorization": KEY})
    try:
        yield ApiClient("signaloid", client, SETTINGS, secrets=[KEY], limits=limits, sleep=_no_wait)
    finally:
        await client.aclose()
        await transport.aclose()


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def call(base: str, method: str, path: str, limits: Limits = LIMITS, **kw: Any) -> Any:
    async def go() -> httpx2.Response:
        async with policy(base, limits) as api:
            return await api.request(method, path, **kw)

    return asyncio.run(go())


@contextmanager
def hostile(mode: str) -> Iterator[tuple[str, Hostile]]:
    app = Hostile(mode)
    with serve_app(app) as base:
        yield base, app


def test_an_endless_body_is_cut_at_the_limit() -> None:
    with hostile("huge") as (base, app), pytest.raises(ResponseTooLarge) as caught:
        call(base, "GET", "/cores")
    stopped = re.search(r"stopped reading after ([\d,]+) bytes", str(caught.value))
    assert stopped is not None and MIB < int(stopped[1].replace(",", "")) <= MIB + 256 * 1024
    assert app.requests == 1


def test_a_declared_huge_body_is_refused_before_reading() -> None:
    declared = r"600,000,000 bytes \(Content-Length\), over the 1 MiB"
    with hostile("declared") as (base, _app), pytest.raises(ResponseTooLarge, match=declared):
        call(base, "GET", "/cores")


def test_a_trickling_body_ends_at_the_attempt_deadline() -> None:
    started = time.monotonic()
    with hostile("trickle") as (base, app), pytest.raises(ProviderError, match=r"within 0\.3s") as caught:
        call(base, "GET", "/cores", Limits(32 * MIB, 0.3))
    assert time.monotonic() - started < 3.0 and app.sent > 2
    assert "signaloid GET /cores" in str(caught.value)


def test_a_redirect_is_an_error_and_is_not_followed() -> None:
    with hostile("redirect") as (base, app), pytest.raises(ApiError) as caught:
        call(base, "DELETE", "/cores/cor_1")
    assert caught.value.status == 301 and app.requests == 1
    assert "redirect to http://evil.invalid/steal?…; not followed" in str(caught.value)
    assert "abc123secret" not in str(caught.value)


class Recorder:
    """Answers every request with ``body`` (and ``headers``); keeps each request's headers."""

    def __init__(self, body: bytes = b'{"ok": true}', headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
        self.body, self.headers = body, list(headers)
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json"), *self.headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def test_a_gzip_bomb_is_cut_after_decoding() -> None:
    bomb = gzip.compress(b"0" * (4 * MIB))
    app = Recorder(bomb, [(b"content-encoding", b"gzip")])
    with serve_app(app) as base, pytest.raises(ResponseTooLarge, match="larger than the 1 MiB limit"):
        call(base, "GET", "/cores")


def test_the_request_carries_exactly_the_headers_httpx2_built() -> None:
    app = Recorder()
    with serve_app(app) as base:

        async def twice() -> list[Any]:
            async with policy(base) as api:
                return [await api.json("POST", "/cores", json={"Name": "a"}) for _ in range(2)]

        assert asyncio.run(twice()) == [{"ok": True}, {"ok": True}]
    first, second = app.seen
    assert first["authorization"] == KEY and first["user-agent"].startswith("python-httpx")
    assert first["content-type"] == "application/json" and first["content-length"] == "12"
    assert first == second and first["accept-encoding"] == "gzip, deflate"  # httpx2's, not aiohttp's
    assert sorted(first) == [
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
    ]


def test_a_refused_connection_is_surely_not_sent_so_a_create_is_retried() -> None:
    base = f"http://127.0.0.1:{closed_port()}"

    async def create() -> None:
        async with policy(base) as api:
            await api.request("POST", "/cores", idempotent=False, json={})

    with pytest.raises(TransportError, match="cannot connect") as caught:
        asyncio.run(create())
    assert not isinstance(caught.value, UncertainOutcome)
    assert "gave up after 2 attempts" in str(caught.value)


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A TCP server that reads one request per connection, then runs ``answer`` on it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _half_an_answer(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")


def test_a_connection_dropped_mid_answer_makes_a_create_uncertain() -> None:
    with raw_server(_half_an_answer) as base, pytest.raises(UncertainOutcome, match="may or may not"):
        call(base, "POST", "/cores", json={})


def test_a_connection_dropped_mid_answer_is_retried_when_idempotent() -> None:
    with raw_server(_half_an_answer) as base, pytest.raises(TransportError) as caught:
        call(base, "GET", "/cores")
    assert "gave up after 2 attempts" in str(caught.value)
    assert not isinstance(caught.value, UncertainOutcome)


def _trickle_a_small_answer(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n")
    for _ in range(100):
        try:
            conn.sendall(b" ")
        except OSError:
            return
        time.sleep(0.05)


def test_a_small_declared_body_that_trickles_ends_at_the_attempt_deadline() -> None:
    """A short answer is read whole inside the transport: that read is bounded by the deadline too."""
    started = time.monotonic()
    trickle = raw_server(_trickle_a_small_answer)
    with trickle as base, pytest.raises(ProviderError, match=r"within 0\.3s") as caught:
        call(base, "GET", "/cores", Limits(32 * MIB, 0.3))
    assert time.monotonic() - started < 3.0
    assert "signaloid GET /cores" in str(caught.value)


def test_garbage_instead_of_http_is_a_transport_error() -> None:
    garbage = raw_server(lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    with garbage as base, pytest.raises(TransportError, match="signaloid GET /cores"):
        call(base, "GET", "/cores")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (it makes the self-signed certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_a_certificate_nobody_trusts_is_refused(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    handshakes: list[BaseException] = []

    def serve() -> None:
        listener.settimeout(5)
        for _ in range(2):  # the first attempt and its retry
            try:
                conn, _ = listener.accept()
                with tls.wrap_socket(conn, server_side=True) as secure:
                    secure.recv(65536)
                    answer(secure)
            except (OSError, ssl.SSLError) as exc:
                handshakes.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(TransportError, match="cannot connect"):
            call(f"https://127.0.0.1:{port}", "GET", "/cores")
    finally:
        thread.join(10)
        listener.close()
    assert handshakes  # the server saw the client give up during the handshake
