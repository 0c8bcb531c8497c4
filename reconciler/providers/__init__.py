"""One provider package per API. ``build_providers`` builds the ones a run needs; the engine sees
them only through the ``Provider`` protocol (``base.py``), which names nothing of HTTP."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.providers.base import Provider

if TYPE_CHECKING:  # both load the HTTP library, which importing the providers' seam must not
    from reconciler.providers.connect import Sandbox
    from reconciler.providers.endpoints import EndpointPool
    from reconciler.providers.settings import Providers

__all__ = ["PROVIDER_NAMES", "Provider", "build_providers"]

PROVIDER_NAMES = ("signaloid", "scramjet", "steamship")


def build_providers(
    settings: Providers,
    names: set[str],
    *,
    environ: Mapping[str, str],
    sandbox: Sandbox | None = None,
    endpoints: EndpointPool | None = None,
) -> dict[str, Provider]:
    """Providers for ``names``, each from its part of the stack's ``providers:`` block; imported
    lazily so a command that needs none stays fast.

    ``endpoints`` (a ``providers.endpoints.EndpointPool``) shares one transport per endpoint."""
    built: dict[str, Provider] = {}
    for name in PROVIDER_NAMES:
        if name in names:
            module = importlib.import_module(f"reconciler.providers.{name}")
            built[name] = module.build(getattr(settings, name), environ, sandbox, endpoints)
    return built
