"""The emulators served on loopback for integration tests (the ``start_sandbox`` fixture's value)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.signaloid import SignaloidApi

__all__ = ["Sandbox", "StartSandbox"]


@dataclass(frozen=True)
class Sandbox:
    url: str  # base URL of the combined app: /signaloid/…, /scramjet/…, /steamship/…
    signaloid_url: str
    api: SignaloidApi
    data_dir: Path
    app: Any  # what is served: the emulators' app, or the wrapper around it


StartSandbox = Callable[..., Sandbox]
