"""The shared HTTP policy, over httpx2.MockTransport with an injected clock, sleep and randomness."""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from reconciler.errors import (
    ApiError,
    BadRequest,
    NotFound,
    ProviderError,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.providers.http import ApiClient, UncertainOutcome, check_endpoint, parse_retry_after
from reconciler.providers.settings import HttpSettings

API_KEY = "sk-live-4b1d-very-secret"
Step = int | tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception


class FakeTime:
    """A clock that only moves when the code under test sleeps (or a handler says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """A MockTransport handler answering from a list of steps; the last step repeats."""

    def __init__(self, steps: list[Step], time: FakeTime, cost_s: float = 0.0) -> None:
        self.steps, self.time, self.cost_s = steps, time, cost_s
        self.requests: list[httpx2.Request] = []
        self.sent_at: list[float] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.sent_at.append(self.time.now)
        self.time.now += self.cost_s
        step = self.steps[min(len(self.requests) - 1, len(self.steps) - 1)]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            step = (step, {"ok": True})
        status, body, headers = (*step, {})[:3]
        if isinstance(body, str):
            return httpx2.Response(status, text=body, headers={"content-type": "text/html", **headers})
        return httpx2.Response(status, json=body, headers=headers)


def client(
    steps: list[Step], *, rng: float = 1.0, cost_s: float = 0.0, **settings: Any
) -> tuple[ApiClient, Script, FakeTime]:
    time = FakeTime()
    script = Script(steps, time, cost_s)
    http = httpx2.AsyncClient(
        transport=httpx2.MockTransport(script),
        base_url="https://api.example.test",
        headers={"Authorization": API_KEY},
    )
    api = ApiClient(
        "signaloid",
        http,
        HttpSettings(**settings),
        secrets=[API_KEY],
        sleep=time.sleep,
        clock=time.clock,
        rng=lambda: rng,
    )
    return api, script, time


def run(coro_fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(coro_fn())


def req(api: ApiClient, method: str, path: str = "/cores", **kwargs: Any) -> Any:
    return run(lambda: api.request(method, path, **kwargs))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int) -> None:
    api, script, time = client([status, 200])
    assert req(api, "GET").status_code == 200
    assert len(script.requests) == 2
    assert len(time.sleeps) == 1
    assert api.stats.retries == 1 and api.stats.by_status == {status: 1, 200: 1}
    assert api.stats.rate_limited == (1 if status == 429 else 0)


@pytest.mark.parametrize(
    "error",
    [
        httpx2.ConnectError("refused"),
        httpx2.ConnectTimeout("slow"),
        httpx2.ReadTimeout("slow"),
        httpx2.RemoteProtocolError("closed"),
        httpx2.ReadError("reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_errors_are_retried_when_idempotent(error: Exception) -> None:
    api, script, _ = client([error, 200])
    assert req(api, "GET").status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequest), (404, NotFound), (409, ApiError), (501, ServerError), (505, ServerError)],
)
def test_errors_that_are_not_retryable_are_not_retried(status: int, error: type[ApiError]) -> None:
    api, script, time = client([(status, {"message": "nope"}), 200])
    with pytest.raises(error) as caught:
        req(api, "GET")
    assert len(script.requests) == 1 and time.sleeps == []
    assert caught.value.status == status and not caught.value.retryable


def test_statuses_in_ok_are_returned() -> None:
    api, _, _ = client([404])
    assert req(api, "DELETE", "/cores/x", ok={404}).status_code == 404


def test_backoff_is_full_jitter_capped_exponential() -> None:
    api, _, time = client([503, 503, 503, 503, 200], rng=1.0)
    req(api, "GET")
    assert time.sleeps == [0.25, 0.5, 1.0, 2.0]
    api, _, time = client([503, 503, 200], rng=0.5)
    req(api, "GET")
    assert time.sleeps == [0.125, 0.25]
    assert api._backoff(30) == 0.5 * 20.0  # the cap, not 2**30


def test_retry_after_seconds_is_honoured() -> None:
    api, _, time = client([(429, {"message": "slow down"}, {"Retry-After": "7"}), 200], rng=0.0)
    req(api, "GET")
    assert time.sleeps == [7.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    api, _, time = client([(503, {}, {"Retry-After": when}), 200], rng=0.0)
    req(api, "GET")
    assert len(time.sleeps) == 1 and 28.0 <= time.sleeps[0] <= 30.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    epoch = datetime(2015, 10, 21, 7, 28, tzinfo=UTC).timestamp()
    assert parse_retry_after(date, now=epoch - 90) == 90.0
    assert parse_retry_after(date, now=epoch + 90) == 0.0


def test_max_retries_stops_with_a_clear_error() -> None:
    api, script, _ = client([(503, {"message": "maintenance"})], max_retries=3)
    with pytest.raises(ServerError) as caught:
        req(api, "GET")
    assert len(script.requests) == 4
    assert "maintenance (gave up after 4 attempts)" in str(caught.value)
    assert "signaloid GET /cores failed with HTTP 503" in str(caught.value)


def test_retry_budget_stops_before_a_long_retry_after() -> None:
    api, script, time = client([(429, {"message": "quota"}, {"Retry-After": "120"})], retry_budget_s=60)
    with pytest.raises(RateLimited, match="gave up after 1 attempts"):
        req(api, "GET")
    assert len(script.requests) == 1 and time.sleeps == []


def test_retry_budget_counts_time_spent_in_requests() -> None:
    api, script, time = client([503], rng=1.0, cost_s=2.0, retry_budget_s=10, max_retries=20)
    with pytest.raises(ServerError, match="gave up"):
        req(api, "GET")
    assert time.now - 1000.0 <= 10.0 + 2.0  # never starts a retry that would end past the budget
    assert 2 <= len(script.requests) < 21


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("step", [500, 503, httpx2.ReadTimeout("lost"), httpx2.RemoteProtocolError("gone")])
def test_non_idempotent_calls_are_not_blindly_retried(method: str, step: Step) -> None:
    api, script, time = client([step, 201])
    with pytest.raises(UncertainOutcome, match="may or may not have taken effect"):
        req(api, method, json={"Name": "x"})
    assert len(script.requests) == 1 and time.sleeps == []


@pytest.mark.parametrize("step", [429, httpx2.ConnectError("refused"), httpx2.ConnectTimeout("no route")])
def test_non_idempotent_calls_are_retried_when_surely_not_applied(step: Step) -> None:
    api, script, _ = client([step, 201])
    assert req(api, "POST", json={}).status_code == 201
    assert len(script.requests) == 2


def test_put_and_delete_are_idempotent() -> None:
    for method in ("PUT", "DELETE"):
        api, script, _ = client([500, 200])
        assert req(api, method).status_code == 200 and len(script.requests) == 2


def test_create_returns_the_object_found_instead_of_sending_again() -> None:
    api, script, _ = client([503, 201])
    lookups: list[int] = []

    async def find_existing() -> Any:
        lookups.append(1)
        return {"CoreID": "cor_found"}

    result = run(lambda: api.create("POST", "/cores", find_existing=find_existing, json={"Name": "x"}))
    assert result == {"CoreID": "cor_found"}
    assert len(script.requests) == 1 and lookups == [1]


def test_create_sends_again_when_the_first_attempt_did_not_land() -> None:
    api, script, _ = client([httpx2.ReadTimeout("lost"), (201, {"CoreID": "cor_new"})])

    async def find_nothing() -> Any:
        return None

    response = run(lambda: api.create("POST", "/cores", find_existing=find_nothing, json={}))
    assert response.json() == {"CoreID": "cor_new"}
    assert len(script.requests) == 2


def test_create_gives_up_within_max_retries() -> None:
    api, script, _ = client([500], max_retries=2)

    async def find_nothing() -> Any:
        return None

    with pytest.raises(TransportError, match="gave up after 3 attempts"):
        run(lambda: api.create("POST", "/cores", find_existing=find_nothing, json={}))
    assert len(script.requests) == 3


def test_token_bucket_spaces_requests() -> None:
    api, script, _ = client([200], rate_limit_per_s=2.0)

    async def burst() -> None:
        for _ in range(6):
            await api.request("GET", "/cores")

    run(burst)
    start = script.sent_at[0]
    assert [round(t - start, 6) for t in script.sent_at] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_errors_carry_the_api_message_and_never_the_key() -> None:
    body = {"message": f"invalid key {API_KEY}", "statusSuggestion": "check your key"}
    api, script, _ = client([(401, body)])
    with pytest.raises(ApiError) as caught:
        req(api, "GET")
    text = str(caught.value)
    assert text == "signaloid GET /cores failed with HTTP 401: invalid key *** (check your key)"
    assert script.requests[0].headers["Authorization"] == API_KEY  # it was sent, and is scrubbed


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_transport_errors_never_show_the_key(method: str) -> None:
    api, _, _ = client([httpx2.ReadError(f"reset while sending Authorization: {API_KEY}")], max_retries=1)
    with pytest.raises(TransportError) as caught:
        req(api, method)
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)


def test_an_html_error_page_becomes_its_text() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    api, _, _ = client([(502, page)], max_retries=0)
    with pytest.raises(ServerError) as caught:
        req(api, "GET")
    assert caught.value.message.startswith("502 Bad Gateway nginx")
    assert "<" not in str(caught.value)


def test_a_body_that_is_not_json_names_the_call() -> None:
    api, _, _ = client([(200, "<html>maintenance</html>")])
    with pytest.raises(ProviderError) as caught:
        run(lambda: api.json("GET", "/cores"))
    text = str(caught.value)
    assert "signaloid GET /cores returned a body that is not JSON" in text
    assert "text/html" in text and "maintenance" in text
    assert not isinstance(caught.value, ApiError)


def test_json_returns_the_decoded_body() -> None:
    api, _, _ = client([(200, {"Items": [1]})])
    assert run(lambda: api.json("GET", "/cores")) == {"Items": [1]}


@pytest.mark.parametrize(
    "url", ["https://api.signaloid.io", "http://localhost:8787", "http://127.0.0.1:1/x", "http://[::1]:9/"]
)
def test_check_endpoint_accepts_tls_and_loopback(url: str) -> None:
    check_endpoint("signaloid", url, allow_insecure_http=False)


def test_check_endpoint_refuses_plain_http_elsewhere() -> None:
    with pytest.raises(ProviderError) as caught:
        check_endpoint("signaloid", "http://api.example.com", allow_insecure_http=False)
    assert "refusing plain http:// to api.example.com" in str(caught.value)
    assert "providers.signaloid.http.allow_insecure_http: true" in str(caught.value)
    check_endpoint("signaloid", "http://api.example.com", allow_insecure_http=True)
    with pytest.raises(ProviderError, match="must be an http:// or https:// URL"):
        check_endpoint("signaloid", "ftp://api.example.com", allow_insecure_http=True)


def test_check_endpoint_is_not_fooled_by_a_name_that_looks_like_loopback() -> None:
    with pytest.raises(ProviderError):
        check_endpoint("signaloid", "http://127.attacker.example/", allow_insecure_http=False)


def test_request_bodies_are_sent_unchanged() -> None:
    api, script, _ = client([200])
    req(api, "PATCH", "/cores/c1", json={"Precision": 256})
    assert json.loads(script.requests[0].content) == {"Precision": 256}
    assert script.requests[0].url.path == "/cores/c1"
