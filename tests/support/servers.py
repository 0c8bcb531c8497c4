"""Serve an ASGI app on a real loopback socket for the length of a ``with`` block.

``serve_app(app)`` runs a ``uvicorn.Server`` in a background thread on 127.0.0.1, on a port the
kernel picks (the socket is bound to port 0 here, before the thread starts, so there is no race
for a "free" port), waits until a TCP connection is accepted, and shuts the server down at exit.
Every wait is bounded: a server that does not start or stop in time fails the test loudly
instead of hanging it.

    with serve_app(create_app()) as base_url:
        httpx2.get(f"{base_url}/health")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

__all__ = ["closed_port", "serve_app"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on ``host`` and a free port; yields the base URL (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced below, in the test's own thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, host, port, errors)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_TIMEOUT_S)
        sock.close()
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=STOP_TIMEOUT_S)
            raise RuntimeError(f"uvicorn on port {port} did not stop within {STOP_TIMEOUT_S}s")


def _wait_started(
    server: uvicorn.Server, thread: threading.Thread, host: str, port: int, errors: list[BaseException]
) -> None:
    """Poll (bounded) until uvicorn reports started and the port accepts a connection."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if errors or not thread.is_alive():
            raise RuntimeError(f"uvicorn on port {port} exited during start-up") from (
                errors[0] if errors else None
            )
        if server.started:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError(f"uvicorn on port {port} did not start within {START_TIMEOUT_S}s")


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
