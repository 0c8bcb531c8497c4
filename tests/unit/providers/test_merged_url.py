"""``merged_url``: the URL a call goes to is httpx2's own, kept per base URL, path and query."""

from __future__ import annotations

import httpx2

from reconciler.providers.http import merged_url


def _url(base: str, path: str, **kwargs: object) -> tuple[object, dict[str, object]]:
    client = httpx2.AsyncClient(base_url=base)
    rest = dict(kwargs)
    return merged_url(client, path, rest), rest


def test_the_url_is_httpx2s_own_and_each_base_url_keeps_its_own() -> None:
    params = {"default": "true", "startKey": "a b/ü"}
    own = httpx2.AsyncClient(base_url="https://api.test/v1/").build_request("GET", "/cores", params=params)
    first, rest = _url("https://api.test/v1/", "/cores", params=params)
    again, _ = _url("https://api.test/v1/", "/cores", params=params)
    assert first == own.url and again is first and rest == {}  # the query is in the URL now
    other, _ = _url("https://other.test/", "/cores", params=params)
    assert str(other) == "https://other.test/cores?default=true&startKey=a+b%2F%C3%BC"
    plain, _ = _url("https://api.test/v1/", "/cores/cor_1")
    assert str(plain) == "https://api.test/v1/cores/cor_1"


def test_a_query_that_cannot_be_kept_is_left_to_httpx2() -> None:
    url, rest = _url("https://api.test/", "/cores", params={"id": ["a", "b"]})
    assert url == "/cores" and rest == {"params": {"id": ["a", "b"]}}
