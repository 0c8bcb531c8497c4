"""Scramjet payload parsing, instance matching and crash reports: pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.scramjet.parse import (
    LiveInstance,
    crash_report,
    match_instances,
    needs_detail,
    parse_instance,
    parse_sequence,
    split_id,
    stop_body,
)


def inst(id: str, args: list[int], config: dict[str, int] | None = None) -> LiveInstance:
    return LiveInstance(id, "s1", args, config or {})


def test_ids_carry_the_hub() -> None:
    assert split_id("local/abc-1") == ("local", "abc-1")
    with pytest.raises(ProviderError, match="<hub>/<sequence id>"):
        split_id("abc-1")


def test_both_instance_shapes_parse_and_ending_ones_are_not_running() -> None:
    documented = {
        "id": "i1",
        "sequence": "s1",
        "sequenceArgs": [1],
        "appConfig": {"a": 1},
        "status": "running",
    }
    assert parse_instance(documented) == LiveInstance("i1", "s1", [1], {"a": 1})
    assert not needs_detail(documented)
    thin = {"id": "i2", "sequence": "s1"}  # 0.18.7's list
    assert needs_detail(thin)
    detail = {"id": "i2", "sequence": "s1", "created": "…", "started": "…"}  # no args, no appConfig
    assert parse_instance(detail) == LiveInstance("i2", "s1", [], {})
    assert parse_instance({**documented, "status": "stopping"}) is None
    assert parse_instance(None) is None


def test_sequence_attrs_and_key() -> None:
    payload = {"id": "s1", "config": {"name": "counter", "version": "1.2.0"}, "instances": ["i1"]}
    obj = parse_sequence("local", payload, [inst("i1", [1]), LiveInstance("x", "other", [], {})], {})
    assert (obj.remote_id, obj.key, obj.name) == ("local/s1", ("local", "counter"), "counter")
    assert obj.attrs == {
        "hub": "local",
        "package_version": "1.2.0",
        "instances": [{"args": [1], "app_config": {}}],
    }
    with pytest.raises(ProviderError, match="without an id"):
        parse_sequence("local", {"config": {}}, [], {})


def test_instances_match_as_a_multiset() -> None:
    running = [inst("i1", [1]), inst("i2", [1]), inst("i3", [2], {"a": 1}), inst("i4", [9])]
    desired: list[dict[str, Any]] = [
        {"args": [1]},
        {"args": [2], "app_config": {"a": 1}},
        {"args": [3]},
        {"args": [3]},
    ]
    to_start, to_stop = match_instances(desired, running)
    assert to_start == [{"args": [3], "app_config": {}}, {"args": [3], "app_config": {}}]
    assert [i.id for i in to_stop] == ["i2", "i4"]
    assert match_instances([], []) == ([], [])


def test_stop_body_is_the_array_form() -> None:
    assert stop_body(500) == [4001, {"timeout": 500, "canCallKeepalive": False}]


def test_crash_report_picks_the_errors_after_the_instance_appears() -> None:
    lines = [
        {"level": "ERROR", "msg": "an older failure", "data": ["x"]},
        {"level": "TRACE", "msg": "CSIController created", "data": ["inst-1"]},
        {"level": "DEBUG", "msg": "Request", "data": ["url: /instance/inst-1/health, status: 404"]},
        {"level": "ERROR", "msg": "Sequence finished with error", "data": [21]},
        {"level": "WARN", "msg": "slow", "instance": "inst-1"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\nnot json inst-1 died\n"
    assert crash_report(text, "inst-1") == [
        "ERROR Sequence finished with error [21]",
        "WARN slow",
        "not json inst-1 died",
    ]
    assert crash_report(text, "other") == []
