"""``--debug`` logging redacts every record, whichever logger writes it (issue 18, item 7)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from reconciler.redact import QUIET, enable_debug_logging, redact, remember

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
        ("GET /hook?token=abc&page=2", "GET /hook?token=***&page=2"),
        ('{"password": "hunter2"}', '{"password": "***"}'),
        ("set-cookie: s=1", "set-cookie: ***"),
        ("precision=128 status: 200", "precision=128 status: 200"),
    ],
)
def test_credential_named_values_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
