"""The Scramjet parsers over recorded payloads: a real hub 0.18.7 and the reference's samples,
then edge cases (missing optional fields, extra fields, nulls)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.scramjet.parse import LiveInstance, needs_detail, parse_instance, parse_sequence
from tests.support.payloads import names, payload

REPLACE: dict[str, str] = {}


def test_every_fixture_is_used() -> None:
    assert names("scramjet") == sorted(
        ["hub-0.18.7-health", "hub-0.18.7-instance", "hub-0.18.7-instance-bare", "hub-0.18.7-instances",
         "hub-0.18.7-sequences", "reference-instances", "reference-sequences"]
    )  # fmt: skip


def test_real_hub_lists_thin_instances_that_need_their_detail() -> None:
    listed = payload("scramjet", "hub-0.18.7-instances")
    assert listed and all(set(item) == {"id", "sequence"} and needs_detail(item) for item in listed)
    detail = payload("scramjet", "hub-0.18.7-instance")
    bare = payload("scramjet", "hub-0.18.7-instance-bare")
    assert not needs_detail(detail) and needs_detail(bare)
    assert parse_instance(detail) == LiveInstance(detail["id"], detail["sequence"], [10], {"greeting": "hi"})
    assert parse_instance(bare) == LiveInstance(bare["id"], bare["sequence"], [], {})  # absent means none


def test_real_hub_sequence_with_its_instances() -> None:
    (seq,) = payload("scramjet", "hub-0.18.7-sequences")
    running = [
        parse_instance(payload("scramjet", n)) for n in ("hub-0.18.7-instance", "hub-0.18.7-instance-bare")
    ]
    obj = parse_sequence("local", seq, [i for i in running if i], REPLACE)
    assert obj.remote_id == f"local/{seq['id']}" and obj.key == ("local", "reconciler-test-counter")
    assert obj.attrs["package_version"] == "1.0.0"
    assert sorted(obj.attrs["instances"], key=str) == sorted(
        [{"args": [10], "app_config": {"greeting": "hi"}}, {"args": [], "app_config": {}}], key=str
    )


def test_reference_samples_parse() -> None:
    sequences = payload("scramjet", "reference-sequences")
    listed = payload("scramjet", "reference-instances")
    # The sample lists appConfig but no sequenceArgs: the provider asks for each instance's detail.
    assert all(needs_detail(item) for item in listed)
    instances = [parse_instance(item) for item in listed]
    objs = {
        o.name: o for o in (parse_sequence("h", s, [i for i in instances if i], REPLACE) for s in sequences)
    }
    assert set(objs) == {"@scramjet/simple-counter-js", "@scramjet/hello"}
    assert len(objs["@scramjet/hello"].attrs["instances"]) == 2  # two of the three listed run from it
    assert objs["@scramjet/simple-counter-js"].attrs["package_version"] == "0.13.1"
    assert objs["@scramjet/simple-counter-js"].attrs["instances"] == [{"args": [], "app_config": {}}]


def test_health_payload_has_the_process_id() -> None:
    health = payload("scramjet", "hub-0.18.7-health")
    assert health["healthy"] is True and isinstance(health["processId"], int)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"appConfig": None, "sequenceArgs": None}, LiveInstance("i", "s", [], {})),  # nulls
        ({"args": [3]}, LiveInstance("i", "s", [3], {})),  # the older "args" spelling
        ({"ports": {"3000/tcp": 1}, "extra": [1]}, LiveInstance("i", "s", [], {})),  # extra fields
        ({"status": "Stopping"}, None),  # ending, in any case
        ({"id": None}, None),  # not an instance
    ],
)
def test_instance_edge_cases(edit: dict[str, Any], expected: LiveInstance | None) -> None:
    assert parse_instance({"id": "i", "sequence": "s", **edit}) == expected


def test_sequence_edge_cases() -> None:
    (seq,) = payload("scramjet", "hub-0.18.7-sequences")
    del seq["config"]["version"]
    assert parse_sequence("h", seq, [], REPLACE).attrs["package_version"] == ""  # optional
    seq["config"] = None
    assert parse_sequence("h", seq, [], REPLACE).key == ("h", "")  # a config that is null
    with pytest.raises(ProviderError, match="without an id"):
        parse_sequence("h", {"config": {"name": "x"}}, [], REPLACE)
