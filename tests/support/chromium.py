"""Headless Chromium (Debian's ``chromium``, installed by ``.ci/install-chromium.sh``) for checking
a generated page as a browser renders it: the DOM after parsing, and a screenshot.

Each run gets a fresh profile and every background service off (this network is closed: update
checks, sync and QUIC probes would only flood it). Without Chromium the tests skip, loudly; under
CI (``CI`` set) they fail instead, since CI installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

__all__ = ["Elements", "chromium", "dump_dom", "rgb", "screenshot"]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_S = 90


def chromium() -> str:
    """The browser's path, or skip (fail under CI) saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "headless Chromium is not installed (bash .ci/install-chromium.sh installs Debian's package)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _run(page: Path | str, *flags: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    """``page``: a file, or an ``http://`` URL (a live page, such as ``reconciler watch``'s);
    ``fragment``: the address's ``#…`` part."""
    target = page if isinstance(page, str) else page.resolve().as_uri()
    target += f"#{fragment}" if fragment else ""
    with tempfile.TemporaryDirectory(prefix="reconciler-chromium-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *flags, target]
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result


def dump_dom(page: Path | str, fragment: str = "") -> str:
    """The page's DOM as the browser built it (its scripts run), serialised."""
    return _run(page, "--dump-dom", fragment=fragment).stdout


def screenshot(page: Path | str, out: Path, size: tuple[int, int] = (1000, 700)) -> Path:
    _run(page, f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars")
    assert out.is_file() and out.stat().st_size > 1000, f"no screenshot written to {out}"
    return out


class Elements(HTMLParser):
    """Every element's tag and attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and css_class in a.get("class", "").split()]


def rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
