"""Differential conformance: Scramjet's official Node client (``@scramjet/api-client`` 0.18.7) runs the
same operations against the REAL Transform Hub 0.18.7 and against the emulator's ``hub-0.18.7``
profile; every exchange must have the same status code, the same body shape (top-level keys, or
the keys of a list's items, or an empty body, or a stream still open after 1.5 s) and the same
content type and CORS headers. When the hub or the client is missing: fail under CI,
else skip loudly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.scramjet import create_app
from tests.support.scramjet_client import drive, require_client
from tests.support.scramjet_hub import RealHub, pack_directory, require_hub
from tests.support.servers import serve_app

pytestmark = pytest.mark.hub

COUNTER = Path(__file__).resolve().parents[1] / "support" / "sequences" / "counter"
Exchange = dict[str, Any]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("differential") / "counter.tar.gz"
    path.write_bytes(pack_directory(COUNTER))
    return path


@pytest.fixture(scope="module")
def runs(package: Path) -> Iterator[tuple[list[Exchange], list[Exchange]]]:
    require_hub()
    require_client()
    with RealHub() as hub:
        real = drive(hub.url, package)
    with serve_app(create_app(profile="hub-0.18.7")) as base:
        emulated = drive(f"{base}/api/v1", package)
    yield real, emulated


def _key(exchange: Exchange) -> tuple[str, str, int, str, tuple[tuple[str, str], ...]]:
    headers = tuple(sorted(exchange.get("headers", {}).items()))
    return exchange["step"], exchange["method"], exchange["status"], exchange["shape"], headers


def test_every_exchange_has_the_same_status_and_body_shape(
    runs: tuple[list[Exchange], list[Exchange]],
) -> None:
    real, emulated = runs
    assert len(real) >= 25, "the driver stopped early"
    table = "\n".join(
        f"{'ok' if _key(r) == _key(e) else 'DIFFERS'}  {r['step']}: real {r['status']} {r['shape']} "
        f"{r.get('headers')} {r['body'][:80]!r} / emulator {e['status']} {e['shape']} {e.get('headers')} "
        f"{e['body'][:80]!r}"
        for r, e in zip(real, emulated, strict=False)
    )
    assert [_key(r) for r in real] == [_key(e) for e in emulated], table


def test_what_the_0_18_7_dialect_is_made_of(runs: tuple[list[Exchange], list[Exchange]]) -> None:
    """The facts the provider relies on, seen the same way on both sides."""
    for side in runs:
        by_step = {e["step"]: e for e in side}
        assert (by_step["put sequence"]["status"], by_step["put sequence"]["shape"]) == (404, "<empty>")
        assert by_step["upload same name"]["status"] == 200
        assert by_step["list instances"]["shape"] == "[id,sequence]"
        assert by_step["instance health"]["shape"] == "healthy,processId"
        assert by_step["stop with object body"]["status"] == 500
        stop = by_step["stop"]
        assert (stop["status"], stop["body"]) == (200, '{"opStatus":"OK"}') and stop["ms"] >= 450  # held
        kills = [e for e in side if e["step"] == "kill twice at once"]
        assert [(e["status"], e["body"]) for e in kills] == [(202, '{"opStatus":"Accepted"}')] * 2
        assert by_step["info right after kill"]["status"] == 200  # going, not gone
        assert by_step["version"]["body"] == '{"version":"0.18.7"}'
        for stream in ("output stream", "stdout stream", "hub log stream"):
            assert (by_step[stream]["status"], by_step[stream]["shape"]) == (200, "<open stream>")
            assert by_step[stream]["headers"]["content-type"] == "application/octet-stream"
        assert (by_step["send input"]["status"], by_step["send input"]["shape"]) == (200, "<empty>")
        assert (by_step["send event"]["status"], by_step["send event"]["body"]) == (202, '{"accepted":true}')
        assert by_step["options preflight"]["status"] == 200
        assert (
            by_step["options preflight"]["headers"]["access-control-allow-methods"]
            == "DELETE, POST, GET, OPTIONS"
        )
        assert all(e["headers"].get("access-control-allow-origin") == "*" for e in side if e["status"])
        slash = by_step["list sequences trailing slash"]
        assert (slash["status"], slash["shape"], slash["headers"].get("location")) == (200, "[]", None)
        assert by_step["load-check fsSize keys"]["shape"] == "available,fs,mount,rw,size,type,use,used"
