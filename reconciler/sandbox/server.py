"""``reconciler sandbox serve``: all emulators on one loopback port.

``/signaloid/…``, ``/scramjet/api/v1/…`` and ``/steamship/api/v1/…``, optionally behind the
fault injector (latency, error rate), each API behind its own limits (rate, calls in progress).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from reconciler.sandbox.faults import FaultConfig, FaultInjector
from reconciler.sandbox.inprocess import EMULATORS
from reconciler.sandbox.limits import ApiLimits, LimitConfig

__all__ = ["build_app", "serve"]


def build_app(
    data_dir: Path | None = None,
    *,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int | None = None,
    page_size: int | None = None,
    limits: LimitConfig | None = None,
) -> Any:
    routes = []
    for api, (module_name, _base) in EMULATORS.items():
        module = importlib.import_module(module_name)
        options: dict[str, Any] = {}
        if page_size is not None and api == "signaloid":
            options["page_size"] = page_size
        if page_size is not None and api == "steamship":
            options["page_size_max"] = page_size
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
        limits=limits,
    )
    base = f"http://{host}:{port}"
    echo(f"Sandbox emulators on {base} (Ctrl-C to stop). Point reconciler at them with:")
    for name, value in environment(base).items():
        echo(f"  export {name}={value}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
