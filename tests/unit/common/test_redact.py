"""``--debug`` logging redacts every record, whichever logger writes it (issue 18, item 7), and
errors never echo a URL's credentials (item 11)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.common.redact import QUIET, enable_debug_logging, redact, remember, safe_url
from reconciler.config import load_stack
from reconciler.errors import ConfigError, ProviderError
from reconciler.providers.http import check_endpoint

KEY = "sk-REFLECTED-0badc0ffee"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """What ``--debug`` logging writes, from every logger."""
    root = logging.getLogger()
    level = root.level
    levels = {name: logging.getLogger(name).level for name in QUIET}
    stream = io.StringIO()
    handler = enable_debug_logging(stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_a_remembered_secret_is_redacted_in_any_logger(debug_log: io.StringIO) -> None:
    remember([KEY])
    logging.getLogger("some.library").debug("echoed header x-echo=%s in %s", KEY, "GET /cores")
    logging.getLogger("httpcore2.http11").warning("headers=[(b'X-Whatever', b'%s')]", KEY)
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logging.getLogger("reconciler.http").exception("failed")
    err = debug_log.getvalue()
    assert KEY not in err
    assert "echoed header x-echo=*** in GET /cores" in err and "ValueError: bad key ***" in err


def test_wire_level_libraries_are_kept_quiet(debug_log: io.StringIO) -> None:
    logging.getLogger("httpcore2.http11").debug("receive_response_headers.complete")
    logging.getLogger("reconciler.http").debug("signaloid GET /cores -> 200")
    err = debug_log.getvalue()
    assert "receive_response_headers" not in err and "signaloid GET /cores -> 200" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[(b'Authorization', b'Bearer abc.def')]", "[(b'Authorization', b'***')]"),
        ("(b'x-api-key', b'k1')", "(b'x-api-key', b'***')"),
        ("Authorization: Bearer abc123 next", "Authorization: *** next"),
        ("GET /hook?token=zq81x&page=2", "GET /hook?token=***&page=2"),
        ('{"password": "hunter2"}', '{"password": "***"}'),
        ("set-cookie: s=1", "set-cookie: ***"),
        ("precision=128 status: 200", "precision=128 status: 200"),
    ],
)
def test_credential_named_values_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


# --- credentials inside a URL are never echoed in an error (issue 18, item 11) -------------------

PASSWORD = "s3cret-pass-42"


def test_the_endpoint_scheme_error_does_not_echo_url_credentials() -> None:
    with pytest.raises(ProviderError) as caught:
        check_endpoint("signaloid", f"ftp://user:{PASSWORD}@host.example/x?key=zz9988", False)
    expected = "signaloid: endpoint 'ftp://host.example/x?…' must be an http:// or https:// URL"
    assert str(caught.value) == expected


def test_a_stack_url_error_does_not_echo_url_credentials(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(f'version: 1\nproviders:\n  signaloid:\n    url: "ftp://user:{PASSWORD}@host/x"\n')
    with pytest.raises(ConfigError) as caught:
        load_stack([stack], {})
    (issue,) = caught.value.issues
    assert PASSWORD not in str(issue) and "got 'ftp://host/x'" in str(issue) and issue.line == 4


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://u:{PASSWORD}@h.example:8443/p?t=1#frag", "https://h.example:8443/p?…"),
        ("http://[::1]:8787/signaloid", "http://[::1]:8787/signaloid"),
        (f"user:{PASSWORD}@host", "(a URL with credentials)"),
    ],
)
def test_safe_url(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_scrub_replaces_the_longest_secret_first() -> None:
    """A secret that contains a shorter one is replaced whole, not left with its tail showing."""
    from reconciler.common.redact import scrub
    from reconciler.providers.http import ApiClient

    secrets = ["T0/B1", "T0/B1/xyzSECRET"]
    assert scrub("POST /T0/B1/xyzSECRET failed", secrets) == "POST /*** failed"
    client = ApiClient("notify", None, secrets=secrets)  # type: ignore[arg-type]  # scrub needs no client
    assert client.scrub("POST /T0/B1/xyzSECRET failed") == "POST /*** failed"


def test_an_excerpt_of_a_server_body_is_bounded_redacted_and_one_line() -> None:
    from reconciler.common.redact import excerpt

    body = (
        "Authorization: Bearer eyJhbGciOi.payload.sig\n"
        "see https://alice:hunter2-pw@api.example/v1/x?key=k3y-value&page=2 \x1b[2J " + "pad " * 10_000
    )
    text = excerpt(body, secrets=["hunter2-pw"], limit=120)
    assert len(text) == 120 and text.endswith("…")
    assert "eyJhbGciOi" not in text and "hunter2" not in text and "alice" not in text
    assert "k3y-value" not in text and "https://api.example/v1/x?key=***&page=***" in text
    assert "\n" not in text and "\x1b" not in text and "\\x1b[2J" in text


def test_a_secret_is_scrubbed_before_the_excerpt_is_cut() -> None:
    from reconciler.common.redact import excerpt

    assert "S3CRETVALUE"[:6] not in excerpt("x" * 5 + "S3CRETVALUE", secrets=["S3CRETVALUE"], limit=10)
