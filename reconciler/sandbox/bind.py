"""Where ``sandbox serve`` may listen. The emulators accept any key by default, so they serve
loopback only; another address (``0.0.0.0``, ``::``, a LAN address, a host name) is refused
unless ``--allow-remote``, and then only with a key (``RECONCILER_SANDBOX_API_KEY``) that every
emulator requires. URLs of IPv6 addresses are printed with brackets (``http://[::1]:8787``).

The socket is bound (:func:`listen`) before anything is printed: a port in use is one line and
exit 1, never ``export`` lines for a server that is not there; ``--port 0`` prints the port the OS
gave."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

from reconciler.errors import ReconcilerError

__all__ = ["KEY_VAR", "MIN_KEY_LENGTH", "base_url", "check_bind", "is_loopback", "listen"]

KEY_VAR = "RECONCILER_SANDBOX_API_KEY"
MIN_KEY_LENGTH = 16


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def check_bind(host: str, allow_remote: bool, environ: Mapping[str, str]) -> str | None:
    """The key the emulators must require (None: any key, loopback only); ReconcilerError when
    this address may not be served as asked."""
    key = environ.get(KEY_VAR, "").strip() or None
    if not is_loopback(host) and not allow_remote:
        raise ReconcilerError(
            f"refusing to serve the sandbox on {host}: it is not a loopback address, and the emulators "
            "would take any key from the network. Serve on 127.0.0.1 (the default), or pass "
            f"--allow-remote with {KEY_VAR} set to the key every emulator must then require"
        )
    if allow_remote and key is None:
        raise ReconcilerError(
            f"--allow-remote needs a key: set {KEY_VAR} (at least {MIN_KEY_LENGTH} characters)"
        )
    if key is not None and len(key) < MIN_KEY_LENGTH:
        raise ReconcilerError(f"{KEY_VAR} is too short: use at least {MIN_KEY_LENGTH} characters")
    return key


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT``, with an IPv6 address in brackets."""
    bare = host.strip("[]")
    try:
        if ipaddress.ip_address(bare).version == 6:
            return f"http://[{bare}]:{port}"
    except ValueError:
        pass
    return f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free port; read it from
    ``getsockname``); a ReconcilerError of one line when it cannot be had."""
    where = base_url(host, port).removeprefix("http://")
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ReconcilerError(f"cannot listen on {where}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = " (choose another --port, or --port 0 for any free one)" if port else ""
        raise ReconcilerError(f"cannot listen on {where}: {exc.strerror or exc}{hint}") from None
    return sock
