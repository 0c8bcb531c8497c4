"""Run Scramjet's official Node client (npm ``@scramjet/api-client`` 0.18.7, installed by
``.ci/install-scramjet-api-client.sh``) through ``scramjet_client_driver.js`` against a hub, and return
every HTTP exchange it made: ``{step, method, path, status, shape, ms, body}``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["CLIENT_DIR", "CLIENT_VERSION", "drive", "require_client"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = Path(os.environ.get("SCRAMJET_API_CLIENT_DIR", REPO_ROOT / ".tools" / "scramjet-api-client"))
CLIENT_VERSION = "0.18.7"
DRIVER = Path(__file__).with_name("scramjet_client_driver.js")


def require_client() -> None:
    """Skip when the client is not installed here; under CI (which installs it), fail."""
    import pytest

    manifest = CLIENT_DIR / "node_modules" / "@scramjet" / "api-client" / "package.json"
    why = ""
    if shutil.which("node") is None:
        why = "node is not on PATH"
    elif not manifest.is_file():
        why = f"@scramjet/api-client is not in {CLIENT_DIR}: run `bash .ci/install-scramjet-api-client.sh`"
    elif json.loads(manifest.read_text(encoding="utf-8")).get("version") != CLIENT_VERSION:
        why = f"@scramjet/api-client in {CLIENT_DIR} is not {CLIENT_VERSION}: re-run the install script"
    if not why:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the official Scramjet client is missing: {why}", pytrace=False)
    pytest.skip(f"!!! SCRAMJET DIFFERENTIAL TEST SKIPPED: {why}")


def drive(api_base: str, package: Path, timeout: float = 120) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["node", str(DRIVER), str(CLIENT_DIR), api_base, str(package)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"the client driver failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return list(json.loads(proc.stdout))
