"""``reconciler sandbox serve --scramjet-profile … --signaloid-casing …`` as a user runs it: the
console script in its own process, on a loopback port, answering in the dialects asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support.scramjet_hub import free_port

RECONCILER_BIN = Path(sys.executable).with_name("reconciler")


def _serve(*options: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(RECONCILER_BIN), "sandbox", "serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"{base}/signaloid/health", timeout=1.0)
            return proc, base
        except httpx2.TransportError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"sandbox serve did not come up: {proc.communicate()[0][-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


def test_serve_speaks_hub_0_18_7_and_camel_case_when_asked() -> None:
    proc, base = _serve("--scramjet-profile", "hub-0.18.7", "--signaloid-casing", "camel")
    try:
        assert httpx2.get(f"{base}/scramjet/api/v1/version").json() == {"version": "0.18.7"}
        put = httpx2.put(
            f"{base}/scramjet/api/v1/sequence/x",
            content=b"",
            headers={"content-type": "application/octet-stream"},
        )
        assert (put.status_code, put.content) == (404, b"")
        hook = httpx2.post(
            f"{base}/signaloid/webhooks",
            json={"url": "https://hooks.example.com/x", "events": ["task-status"]},
            headers={"Authorization": "key"},
        ).json()
        assert hook["webhookId"].startswith("wh-") and "WebhookID" not in hook
    finally:
        _stop(proc)


def test_serve_defaults_to_the_documented_dialects() -> None:
    proc, base = _serve()
    try:
        assert httpx2.get(f"{base}/scramjet/api/v1/version").json()["apiVersion"] == "v1"
        hook = httpx2.post(
            f"{base}/signaloid/webhooks",
            json={"url": "https://hooks.example.com/x", "events": ["task-status"]},
            headers={"Authorization": "key"},
        ).json()
        assert "WebhookID" in hook
    finally:
        _stop(proc)
