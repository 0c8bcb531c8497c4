"""``--sandbox``: every provider talks to an emulator in this process, persisted beside the stack.

The data lives under ``<stack>/.reconciler/sandbox/``, and so does the sandbox run's state,
so ids from the emulators can never end up in the state of a real account.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from reconciler.providers.connect import Endpoint, in_process
from reconciler.sandbox.limits import ApiLimits, LimitConfig

# api -> (module, base path of its routes inside the app)
EMULATORS = {
    "signaloid": ("reconciler.sandbox.signaloid", ""),
    "scramjet": ("reconciler.sandbox.scramjet", "/api/v1"),
    "steamship": ("reconciler.sandbox.steamship", "/api/v1/"),
}


class InProcessSandbox:
    def __init__(
        self,
        data_dir: Path,
        app_options: dict[str, dict[str, Any]] | None = None,
        limits: LimitConfig | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.app_options = app_options or {}
        self.limits = limits  # rate / calls in progress, per API (and per Scramjet hub)
        self._apps: dict[str, Any] = {}

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.json"

    def app(self, api: str, instance: str | None = None) -> Any:
        """The emulator app for ``api`` (``instance`` names one of several, e.g. a Scramjet hub)."""
        key = f"{api}-{instance}" if instance else api
        if key not in self._apps:
            module_name, _ = EMULATORS[api]
            module = importlib.import_module(module_name)
            options = dict(self.app_options.get(api, {}))
            if api == "scramjet":
                # Every CLI command is a new process: running instances must outlive it, as on a hub.
                options.setdefault("persist_instances", True)
                # httpx's ASGI transport waits for a whole answer: streams end after what they hold.
                options.setdefault("endless_streams", False)
            if instance:
                options["name"] = key
            app = module.create_app(self.data_dir, **options)
            self._apps[key] = ApiLimits(app, self.limits) if self.limits else app
        return self._apps[key]

    def endpoint(self, api: str, instance: str | None = None) -> Endpoint:
        _, base = EMULATORS[api]
        transport = in_process(self.app(api, instance))
        return Endpoint(url=f"http://{api}.sandbox{base}", transport=transport)
