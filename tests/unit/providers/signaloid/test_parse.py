"""The Signaloid parsers over recorded payloads (reference samples, the SDK's types) in both casings,
with edge cases: missing optional fields, extra fields, nulls."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.signaloid.parse import parse_core, parse_repository, parse_webhook
from reconciler.sandbox.signaloid_casing import camel_keys
from tests.support.payloads import names, payload


def test_every_fixture_is_used() -> None:
    assert names("signaloid") == sorted(
        ["reference-cores-list", "reference-repositories-list", "reference-webhook-create",
         "sdk-repository", "sdk-webhook-create"]
    )  # fmt: skip


def test_reference_cores() -> None:
    first, second = (parse_core(c) for c in payload("signaloid", "reference-cores-list")["Cores"])
    assert (first.remote_id, first.key) == (
        "cor_051481609fe04665b576ab066e378257",
        ("My Custom Athens Core",),
    )
    assert first.attrs == {"class": "C0", "microarchitecture": "Athens", "precision": 32,
                           "memory_size": 2000000, "correlation_tracking": "disable"}  # fmt: skip
    assert second.attrs["microarchitecture"] == "Reference"


def test_reference_repository_without_remote_url() -> None:
    (repo,) = payload("signaloid", "reference-repositories-list")["Repositories"]
    obj = parse_repository(repo)
    assert obj.key == ("", "string")  # RemoteURL is missing from the sample
    assert obj.attrs["data_sources"] == [
        {"resource_id": "string", "resource_type": "Gateway", "location": "string"}
    ]
    assert obj.attrs["trace_variables"] == [{"file": "string", "line_number": 0, "expression": "string"}]


def test_sdk_repository() -> None:
    obj = parse_repository(payload("signaloid", "sdk-repository"))
    assert obj.key == ("https://github.com/acme/sensor-model", "main") and obj.attrs["arguments"] == "-n 10"


def test_webhook_create_in_either_casing_is_the_same_object() -> None:
    sdk = parse_webhook(payload("signaloid", "sdk-webhook-create"))
    assert sdk.remote_id == "wh-1234567890abcdef1234567890abcdef"
    events = ["task-status", "build-status"]
    url = "https://hooks.example.com/signaloid"
    assert sdk.attrs == {"url": url, "events": events, "description": "Test webhook", "status": "active"}
    reference = parse_webhook(payload("signaloid", "reference-webhook-create"))
    assert reference.remote_id == sdk.remote_id and reference.attrs["url"] is None  # no URL in the sample
    assert "whsec_" not in repr(sdk) and "whsec_" not in repr(reference)  # the secret is never read


@pytest.mark.parametrize(
    ("parse", "item"),
    [
        (parse_core, lambda: payload("signaloid", "reference-cores-list")["Cores"][0]),
        (parse_repository, lambda: payload("signaloid", "sdk-repository")),
        (parse_repository, lambda: payload("signaloid", "reference-repositories-list")["Repositories"][0]),
        (parse_webhook, lambda: payload("signaloid", "reference-webhook-create")),
    ],
)
def test_camel_case_answers_parse_to_the_same_live_object(parse: Any, item: Any) -> None:
    pascal = item()
    from_camel, from_pascal = parse(camel_keys(pascal)), parse(pascal)
    assert from_camel._replace(fingerprint_source="") == from_pascal._replace(fingerprint_source="")
    assert from_camel.fingerprint == from_pascal.fingerprint


def test_edge_cases() -> None:
    core = payload("signaloid", "reference-cores-list")["Cores"][0]
    extra = parse_core({**core, "NewField": {"x": 1}})
    assert extra.attrs == parse_core(core).attrs  # extra fields are carried, not read
    repo = {**payload("signaloid", "sdk-repository"), "Core": None, "DataSources": None}
    obj = parse_repository(repo)
    assert (obj.attrs["core"], obj.attrs["data_sources"]) == (None, None)  # nulls stay nulls
    del repo["Arguments"], repo["TraceVariables"]
    assert parse_repository(repo).attrs["arguments"] is None  # missing optional fields
    hook = payload("signaloid", "reference-webhook-create")
    assert (
        parse_webhook({**hook, "FailureCount": 3, "Secret": "other"}).fingerprint
        == parse_webhook(hook).fingerprint
    )
    for bad, parse in (
        ({"Name": "x"}, parse_core),
        ([], parse_repository),
        ({"webhookId": ""}, parse_webhook),
    ):
        with pytest.raises(ProviderError, match="signaloid returned a"):
            parse(bad)
