"""The fleet pool's network streams tell an idle open connection from one the server closed."""

from __future__ import annotations

import asyncio
import socket

from reconciler.providers.streams import PollingBackend


def test_is_readable_turns_true_once_the_server_closes_the_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        asyncio.run(_check(listener))


async def _check(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    stream = await PollingBackend().connect_tcp("127.0.0.1", port, timeout=5)
    server_side, _ = listener.accept()  # already queued by the kernel: does not wait
    try:
        assert stream.get_extra_info("is_readable") is False  # idle and open: reusable
        await stream.write(b"ping")
        assert server_side.recv(4) == b"ping"
        assert stream.get_extra_info("socket") is not None  # other questions go to AnyIO's stream
    finally:
        server_side.close()
    assert stream.get_extra_info("is_readable") is True  # closed by the server: not reused
    assert await stream.read(10, timeout=5) == b""
    await stream.aclose()
    assert stream.get_extra_info("is_readable") is True  # closed here: never polled again
