"""Hostile servers on a loopback socket (issue 18, items 2-4): an endless body is cut at the API's
limit, a trickling one at the attempt's deadline and the run's, and a 3xx is an error, never
success and never followed. Through the HTTP policy and through the real CLI."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from reconciler.errors import ApiError, ProviderError
from reconciler.providers.http import ApiClient
from reconciler.providers.limits import MIB, Limits, ResponseTooLarge
from reconciler.providers.settings import HttpSettings
from tests.support.cli import RunCli
from tests.support.hostile import Hostile
from tests.support.sandbox import StartSandbox
from tests.support.servers import serve_app
from tests.support.signaloid import API_KEY, CORE, StackDir

SETTINGS = HttpSettings(timeout_s=5.0, max_retries=1, retry_budget_s=1.0)


@contextmanager
def serve(mode: str, **options: Any) -> Iterator[tuple[str, Hostile]]:
    app = Hostile(mode, **options)
    with serve_app(app) as base:
        yield base, app


@pytest.fixture
def huge() -> Iterator[tuple[str, Hostile]]:
    with serve("huge") as served:
        yield served


@pytest.fixture
def trickle() -> Iterator[tuple[str, Hostile]]:
    with serve("trickle") as served:
        yield served


@pytest.fixture
def redirect() -> Iterator[tuple[str, Hostile]]:
    with serve("redirect") as served:
        yield served


def run(base: str, method: str, path: str, limits: Limits) -> httpx2.Response:
    """One call through the HTTP policy, as the Signaloid provider makes it."""

    async def call() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=base) as client:
            return await ApiClient("signaloid", client, SETTINGS, limits=limits).request(method, path)

    return asyncio.run(call())


# --- the HTTP policy ------------------------------------------------------------------------------


def test_an_endless_body_is_cut_at_the_limit(huge: tuple[str, Hostile]) -> None:
    base, app = huge
    too_large = r"signaloid GET /cores: the answer is larger than the 1 MiB limit for this API"
    with pytest.raises(ResponseTooLarge, match=too_large) as caught:
        run(base, "GET", "/cores", Limits(1 * MIB, 30.0))
    stopped = re.search(r"stopped reading after ([\d,]+) bytes", str(caught.value))
    assert stopped is not None
    read = int(stopped[1].replace(",", ""))
    assert MIB < read <= MIB + 256 * 1024 and app.requests == 1  # stopped at the limit, not retried


def test_a_declared_huge_body_is_refused_before_reading() -> None:
    declared = r"600,000,000 bytes \(Content-Length\), over the 1 MiB"
    with serve("declared") as (base, _app), pytest.raises(ResponseTooLarge, match=declared):
        run(base, "GET", "/cores", Limits(1 * MIB, 30.0))


def test_a_trickling_body_ends_at_the_attempt_deadline(trickle: tuple[str, Hostile]) -> None:
    base, app = trickle
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"no complete answer within 0\.3s") as caught:
        run(base, "GET", "/cores", Limits(32 * MIB, 0.3))
    assert time.monotonic() - started < 3.0  # two attempts of 0.3 s and a backoff, not for ever
    assert "signaloid GET /cores" in str(caught.value) and app.sent > 2


def test_a_redirected_delete_is_an_error_naming_the_location(redirect: tuple[str, Hostile]) -> None:
    base, app = redirect
    with pytest.raises(ApiError) as caught:
        run(base, "DELETE", "/cores/cor_1", Limits(1 * MIB, 5.0))
    text = str(caught.value)
    assert caught.value.status == 301
    assert text.startswith("signaloid DELETE /cores/cor_1 failed with HTTP 301")
    assert "redirect to http://evil.invalid/steal?…; not followed" in text
    assert "abc123secret" not in text and app.requests == 1  # not retried, not followed


# --- through the CLI -------------------------------------------------------------------------------


def test_plan_against_an_endless_body_fails_naming_the_call(
    huge: tuple[str, Hostile], stack_dir: StackDir, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _app = huge
    monkeypatch.setenv("SIGNALOID_API_URL", base)
    monkeypatch.setenv("SIGNALOID_API_KEY", "k-hostile-test")
    stack_dir.write(cores={"fast": dict(CORE)})
    result = run_cli("plan", "-f", stack_dir.path)
    assert result.exit_code == 1, result
    # whichever list (cores, repositories, webhooks: read concurrently) is cut first is named
    assert re.search(r"Error: signaloid GET /\w+: the answer is larger than the 32 MiB limit", result.stderr)
    assert "Traceback" not in result.output


def test_the_run_deadline_stops_a_trickling_plan(
    trickle: tuple[str, Hostile], stack_dir: StackDir, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _app = trickle
    monkeypatch.setenv("SIGNALOID_API_URL", base)
    monkeypatch.setenv("SIGNALOID_API_KEY", "k-hostile-test")
    monkeypatch.setenv("RECONCILER_RUN_TIMEOUT", "1")
    stack_dir.write(cores={"fast": dict(CORE)})
    started = time.monotonic()
    result = run_cli("plan", "-f", stack_dir.path)
    assert result.exit_code == 1, result
    assert "the run did not finish within 1s (RECONCILER_RUN_TIMEOUT)" in result.stderr
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("mode", ["trickle", "redirect", "huge"])
def test_drift_notify_to_a_hostile_receiver_is_an_error(
    mode: str, stack_dir: StackDir, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_RUN_TIMEOUT", "2")
    stack_dir.write(cores={"fast": dict(CORE)})
    with serve(mode) as (base, _app):
        url = f"{base}/hook/secret-token-xyz"
        result = run_cli("drift", "--sandbox", "--notify", url, "-f", stack_dir.path)
    assert result.exit_code == 1, result
    expected = {
        "trickle": "did not finish within 2s",
        "redirect": "HTTP 301 (redirect to http://evil.invalid/steal?…; not followed",
        "huge": "larger than the 1 MiB limit",
    }[mode]
    assert expected in result.stderr, result
    assert "Drift report sent" not in result.output and "secret-token-xyz" not in result.output


def test_destroy_answered_with_a_redirect_keeps_the_core_in_state(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli: RunCli
) -> None:
    redirect_deletes = RedirectDeletes()
    sandbox = start_sandbox(wrap=redirect_deletes.wrap)
    stack_dir.write(cores={"fast": dict(CORE)})
    assert run_cli("apply", "--auto-approve", "-f", stack_dir.path).exit_code == 0
    core_id = stack_dir.state()["cores.fast"]
    redirect_deletes.on = True
    result = run_cli("destroy", "--auto-approve", "-f", stack_dir.path)
    assert result.exit_code == 1, result
    assert "cores.fast: destroyed" not in result.stdout and "0 destroyed" in result.stdout
    assert "HTTP 301" in result.output and "not followed" in result.output
    assert stack_dir.state() == {"cores.fast": core_id}  # still managed: it still lives
    assert core_id in sandbox.api.ids("cores")


class RedirectDeletes:
    """ASGI layer: once ``on``, every DELETE is answered 301 elsewhere."""

    def __init__(self) -> None:
        self.on = False
        self.app: Any = None

    def wrap(self, app: Any) -> RedirectDeletes:
        self.app = app
        return self

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.on and scope["type"] == "http" and scope["method"] == "DELETE":
            headers = [(b"location", b"https://elsewhere.invalid/cores"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 301, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


class ReflectKey:
    """ASGI layer: echoes the request's Authorization header back in a response header."""

    def __init__(self) -> None:
        self.app: Any = None

    def wrap(self, app: Any) -> ReflectKey:
        self.app = app
        return self

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        key = dict(scope.get("headers", [])).get(b"authorization", b"")

        async def echoing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-echo", key)]}
            await send(message)

        await self.app(scope, receive, echoing)


def test_debug_logs_never_show_a_key_the_api_reflects(
    start_sandbox: StartSandbox, stack_dir: StackDir, run_cli_process: Callable[..., Any]
) -> None:
    start_sandbox(wrap=ReflectKey().wrap)
    stack_dir.write(cores={"fast": dict(CORE)})
    result = run_cli_process("--debug", "plan", "-f", stack_dir.path)
    assert result.exit_code == 0, result
    assert "DEBUG reconciler" in result.stderr  # debug logging is on
    assert API_KEY not in result.output
