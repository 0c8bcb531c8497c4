"""The apply summary's HTTP figures: requests, retries and 429s per API (issue 7.1)."""

from __future__ import annotations

from reconciler.cli.console import http_summary
from reconciler.providers.http import CallStats


def test_stats_add_up_across_clients() -> None:
    total = CallStats(10, 2, 1, {200: 8, 429: 1}) + CallStats(5, 1, 0, {200: 4, 503: 1})
    assert total == CallStats(15, 3, 1, {200: 12, 429: 1, 503: 1})


def test_one_line_per_api_that_was_called() -> None:
    stats = {"scramjet": CallStats(), "signaloid": CallStats(412, 37, 9)}
    assert http_summary(stats) == ["  signaloid: 412 requests, 37 retries, 9 rate-limited (429)"]
