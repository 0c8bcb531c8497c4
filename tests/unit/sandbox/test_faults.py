"""FaultInjector: reproducible faults of each kind, lost responses that take effect, latency."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
import uvicorn

from reconciler.sandbox.faults import FAULT_KINDS, ConnectionDropped, FaultConfig, FaultInjector
from reconciler.sandbox.signaloid import create_app

KEY = {"Authorization": "scce_test_key"}
CORE = {"Name": "fast", "Class": "C0", "Precision": 128, "MemorySize": 256000,
        "Microarchitecture": "Athens", "CorrelationTracking": "disable"}  # fmt: skip
Call = Callable[[httpx2.AsyncClient], Awaitable[httpx2.Response]]


def run(app: Any, *calls: Call) -> list[httpx2.Response | Exception]:
    """Each call through ``httpx2.ASGITransport``; a transport error is returned, not raised."""

    async def main() -> list[httpx2.Response | Exception]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox", headers=KEY) as client:
            results: list[httpx2.Response | Exception] = []
            for call in calls:
                try:
                    results.append(await call(client))
                except httpx2.TransportError as exc:
                    results.append(exc)
            return results

    return asyncio.run(main())


def get_cores(client: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
    return client.get("/cores")


def post_core(client: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
    return client.post("/cores", json=CORE)


def outcome(result: httpx2.Response | Exception) -> str:
    return type(result).__name__ if isinstance(result, Exception) else str(result.status_code)


def test_config_is_validated() -> None:
    for bad in (
        {"fault_rate": 1.5},
        {"latency_ms": -1},
        {"mix": ()},
        {"mix": ("boom",)},
        {"retry_after_s": -1},
    ):
        with pytest.raises(ValueError):
            FaultConfig(**bad)
    assert FaultConfig(mix=["500"]).mix == ("500",)  # type: ignore[arg-type]


def test_no_faults_passes_everything_through() -> None:
    injector = FaultInjector(create_app(), FaultConfig())
    results = run(injector, post_core, get_cores)
    assert [outcome(r) for r in results] == ["201", "200"]
    assert injector.stats == {"requests": 2, "faults": 0, **dict.fromkeys(FAULT_KINDS, 0)}


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_do_not_reach_the_app(status: str) -> None:
    app = create_app()
    injector = FaultInjector(app, FaultConfig(fault_rate=1.0, mix=(status,)))
    (response,) = run(injector, post_core)
    assert isinstance(response, httpx2.Response)
    assert response.status_code == int(status) and response.json() == {"message": "injected fault"}
    (listing,) = run(app, get_cores)
    assert isinstance(listing, httpx2.Response) and listing.json()["Cores"] == []
    assert injector.stats[status] == 1 and injector.stats["faults"] == 1


@pytest.mark.parametrize(("retry_after_s", "header"), [(1.0, "1"), (2, "2"), (0.25, "0.25")])
def test_429_carries_retry_after(retry_after_s: float, header: str) -> None:
    injector = FaultInjector(
        create_app(), FaultConfig(fault_rate=1.0, mix=("429",), retry_after_s=retry_after_s)
    )
    (response,) = run(injector, get_cores)
    assert isinstance(response, httpx2.Response)
    assert response.status_code == 429 and response.headers["retry-after"] == header
    assert response.json() == {"message": "injected fault"}


def test_drop_raises_a_transport_error_and_skips_the_app() -> None:
    app = create_app()
    injector = FaultInjector(app, FaultConfig(fault_rate=1.0, mix=("drop",)))
    (dropped,) = run(injector, post_core)
    assert isinstance(dropped, ConnectionDropped) and isinstance(dropped, httpx2.RemoteProtocolError)
    assert dropped.request.method == "POST"
    (listing,) = run(app, get_cores)
    assert isinstance(listing, httpx2.Response) and listing.json()["Cores"] == []
    assert injector.stats["drop"] == 1


def test_lost_response_takes_effect_server_side() -> None:
    app = create_app()
    injector = FaultInjector(app, FaultConfig(fault_rate=1.0, mix=("lost_response",)))
    (lost,) = run(injector, post_core)
    assert isinstance(lost, httpx2.RemoteProtocolError)
    (listing,) = run(app, get_cores)
    assert isinstance(listing, httpx2.Response)
    assert [core["Name"] for core in listing.json()["Cores"]] == ["fast"]
    assert injector.stats["lost_response"] == 1 and injector.stats["drop"] == 0


def test_lost_response_on_a_read_is_a_drop() -> None:
    injector = FaultInjector(create_app(), FaultConfig(fault_rate=1.0, mix=("lost_response",)))
    (dropped,) = run(injector, get_cores)
    assert isinstance(dropped, ConnectionDropped)
    assert injector.stats["drop"] == 1 and injector.stats["lost_response"] == 0


def outcomes(seed: int, count: int = 60, rate: float = 0.4) -> tuple[list[str], dict[str, int]]:
    injector = FaultInjector(create_app(), FaultConfig(fault_rate=rate, seed=seed))
    results = run(injector, *[post_core if i % 2 else get_cores for i in range(count)])
    return [outcome(r) for r in results], injector.stats


def test_same_seed_same_faults_and_stats_add_up() -> None:
    first, stats = outcomes(seed=7)
    second, _ = outcomes(seed=7)
    assert first == second
    assert outcomes(seed=8)[0] != first
    assert stats["requests"] == 60
    assert stats["faults"] == sum(stats[kind] for kind in FAULT_KINDS)
    assert 10 <= stats["faults"] <= 40  # rate 0.4 of 60, for this seed
    assert sum(o not in ("200", "201") for o in first) == stats["faults"]
    assert set(first) - {"200", "201"} <= {"500", "503", "429", "ConnectionDropped"}


def test_latency_is_split_around_the_app_and_hides_its_work() -> None:
    """Half the round trip before the app runs; the answer leaves a full round trip after arrival,
    or when the app is done if that is later (its work is not added on top)."""
    now = [0.0]
    events: list[Any] = []

    async def fake_sleep(seconds: float) -> None:
        events.append(round(seconds, 6))
        now[0] += seconds

    def app_taking(work_s: float) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            events.append(f"app at {now[0]:g}")
            now[0] += work_s
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return app

    def injector(work_s: float, latency_ms: float = 250) -> FaultInjector:
        config = FaultConfig(latency_ms=latency_ms)
        return FaultInjector(app_taking(work_s), config, sleep=fake_sleep, clock=lambda: now[0])

    run(injector(0.05), get_cores)
    assert events == [0.125, "app at 0.125", 0.075] and now[0] == 0.25
    events.clear()
    now[0] = 0.0
    run(injector(0.2), get_cores)  # slower than the way out: answered when done, no extra wait
    assert events == [0.125, "app at 0.125"] and now[0] == 0.325
    events.clear()
    now[0] = 0.0
    run(injector(0.05, latency_ms=0), get_cores)
    assert events == ["app at 0"]


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    injector = FaultInjector(app, FaultConfig(fault_rate=1.0, mix=("500",)))

    async def noop(*_: Any) -> Any:
        return {}

    asyncio.run(injector({"type": "lifespan"}, noop, noop))
    assert seen == ["lifespan"] and injector.stats["requests"] == 0


@pytest.fixture
def served_app() -> Iterator[Callable[[Any], str]]:
    """Serve an app with uvicorn on a loopback port in a thread; yields a function returning its URL.

    The socket is bound and listening before the thread starts, so no waiting for startup is needed:
    a request made early sits in the listen backlog until uvicorn accepts it.
    """
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app: Any) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("kind", ["drop", "lost_response"])
def test_drop_over_a_real_socket_is_a_protocol_error(served_app: Callable[[Any], str], kind: str) -> None:
    app = create_app()
    base = served_app(FaultInjector(app, FaultConfig(fault_rate=1.0, mix=(kind,))))
    with (
        httpx2.Client(base_url=base, headers=KEY, timeout=10) as client,
        pytest.raises(httpx2.RemoteProtocolError),
    ):
        client.post("/cores", json=CORE)
    (listing,) = run(app, get_cores)
    assert isinstance(listing, httpx2.Response)
    assert len(listing.json()["Cores"]) == (1 if kind == "lost_response" else 0)
