"""The heartbeat's line and interval: the time waited and, for a bounded wait, the time left (the
two add up to the limit); ``RECONCILER_HEARTBEAT_INTERVAL`` is a positive number of seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.cli.progress import HEARTBEAT_S, Heartbeat, heartbeat_interval
from reconciler.errors import ReconcilerError


def test_a_bounded_wait_says_the_time_left_rounded_up() -> None:
    holder = ["pid 1 on a"]
    beat = Heartbeat(lambda _line: None, lambda: f"waiting for the lock held by {holder[0]}", limit=60)
    assert beat.line(10.4) == "Still waiting for the lock held by pid 1 on a… 0:10 elapsed, timeout in 0:50"
    holder[0] = "pid 2 on b"  # read at each beat: the holder may change
    assert beat.line(75) == "Still waiting for the lock held by pid 2 on b… 1:15 elapsed, timeout in 0:00"
    assert Heartbeat(lambda _line: None, "reading live state").line(20.9) == (
        "Still reading live state… 0:20 elapsed"
    )


def test_the_interval_comes_from_the_environment() -> None:
    assert heartbeat_interval({}) == HEARTBEAT_S == 10
    assert heartbeat_interval({"RECONCILER_HEARTBEAT_INTERVAL": " 0.5 "}) == 0.5
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ReconcilerError, match="RECONCILER_HEARTBEAT_INTERVAL"):
            heartbeat_interval({"RECONCILER_HEARTBEAT_INTERVAL": bad})


def test_a_bad_interval_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["plan", "--sandbox", "-f", str(tmp_path)], env={"RECONCILER_HEARTBEAT_INTERVAL": "soon"}
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: RECONCILER_HEARTBEAT_INTERVAL='soon': expected a number of seconds above 0 (default 10)"
    )
