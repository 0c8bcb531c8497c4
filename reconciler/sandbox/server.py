"""``reconciler sandbox serve``: all emulators on one loopback port.

``/signaloid/…``, ``/scramjet/api/v1/…`` and ``/steamship/api/v1/…``, optionally behind the
fault injector (latency, error rate), each API behind its own limits (rate, calls in progress).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from reconciler.sandbox.bind import KEY_VAR, base_url, listen
from reconciler.sandbox.faults import FaultConfig, FaultInjector
from reconciler.sandbox.inprocess import EMULATORS
from reconciler.sandbox.limits import ApiLimits, LimitConfig

__all__ = ["announcement", "build_app", "environment", "serve"]


def build_app(
    data_dir: Path | None = None,
    *,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int | None = None,
    page_size: int | None = None,
    dialects: dict[str, dict[str, Any]] | None = None,
    api_key: str | None = None,
    limits: LimitConfig | None = None,
) -> Any:
    """``dialects``: extra options per emulator, e.g. ``{"scramjet": {"profile": "hub-0.18.7"}}``.
    ``api_key``: every emulator requires it (Signaloid's raw key, Steamship's and Scramjet's bearer
    token); None accepts any key."""
    routes = []
    for api, (module_name, _base) in EMULATORS.items():
        module = importlib.import_module(module_name)
        options: dict[str, Any] = dict((dialects or {}).get(api, {}))
        if page_size is not None and api == "signaloid":
            options["page_size"] = page_size
        if page_size is not None and api == "steamship":
            options["page_size_max"] = page_size
        if api_key is not None:
            options["token" if api == "scramjet" else "api_key"] = api_key
        api_app = module.create_app(data_dir, **options)
        routes.append(Mount(f"/{api}", app=ApiLimits(api_app, limits) if limits else api_app))
    app: Any = Starlette(routes=routes)
    if latency_ms or fault_rate:
        app = FaultInjector(app, FaultConfig(latency_ms=latency_ms, fault_rate=fault_rate, seed=fault_seed))
    return app


def environment(base: str) -> dict[str, str]:
    """The variables that point the providers at a served sandbox."""
    return {
        "SIGNALOID_API_URL": f"{base}/signaloid",
        "SIGNALOID_API_KEY": "sandbox",
        "STEAMSHIP_API_BASE": f"{base}/steamship/api/v1/",
        "STEAMSHIP_API_KEY": "sandbox",
        "SCRAMJET_HUB_URL": f"{base}/scramjet/api/v1",
    }


# Hub URLs live in the stack, not in a variable the tool reads: this one is for stacks that write
# url: "${env:SCRAMJET_HUB_URL:-…}", as examples/scramjet does.
_READ_BY_STACKS = {"SCRAMJET_HUB_URL": 'read by a hub url "${env:SCRAMJET_HUB_URL:-…}" (examples/scramjet)'}


def announcement(base: str, api_key: str | None = None) -> list[str]:
    """What ``sandbox serve`` prints: where it listens, and the variables to export (with
    ``--allow-remote``, the key's variable, never the key itself)."""
    lines = [f"Sandbox emulators on {base} (Ctrl-C to stop). Point reconciler at them with:"]
    for name, value in environment(base).items():
        if api_key is not None and name.endswith("_KEY"):
            value = f'"${KEY_VAR}"'
        note = f"   # {_READ_BY_STACKS[name]}" if name in _READ_BY_STACKS else ""
        lines.append(f"  export {name}={value}{note}")
    if api_key is not None:
        lines.append(f"  (Scramjet: give the hub the same key, token: ${{env:{KEY_VAR}}}, in the stack)")
    return lines


class QuietDisconnects:
    """ASGI layer: a client that goes away mid-request (starlette's ``ClientDisconnect`` while a
    body is read) ends that request quietly. Without it uvicorn logs a traceback per request, and a
    client killed mid-run (a test timing out, Ctrl-C) left hundreds. Other errors pass untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.requests import ClientDisconnect

        # Nobody is left to answer, and nothing on the server went wrong.
        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, receive, send)


def serve(
    *,
    host: str,
    port: int,
    data_dir: Path | None,
    latency_ms: float,
    fault_rate: float,
    fault_seed: int | None,
    page_size: int | None,
    echo: Callable[[str], None],
    dialects: dict[str, dict[str, Any]] | None = None,
    api_key: str | None = None,
    limits: LimitConfig | None = None,
) -> None:
    import uvicorn

    from reconciler.sandbox.store import write_behind

    write_behind(True)  # one server handles every request in turn: file writes off its loop
    app = build_app(
        data_dir,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        page_size=page_size,
        dialects=dialects,
        api_key=api_key,
        limits=limits,
    )
    sock = listen(host, port)  # before anything is printed: a port in use is one line, exit 1
    for line in announcement(base_url(host, int(sock.getsockname()[1])), api_key):
        echo(line)
    config = uvicorn.Config(QuietDisconnects(app), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
