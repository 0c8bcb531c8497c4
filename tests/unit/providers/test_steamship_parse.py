"""Steamship payloads → LiveObjects, task and error text, request bodies, config normalisation: pure."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.engine.deciding.diff import diff_attrs
from reconciler.errors import ProviderError
from reconciler.kinds.package_instances import KIND as PACKAGE_INSTANCES
from reconciler.kinds.package_instances import NO_UPDATE, failed_init, normalise_config
from reconciler.providers.steamship.parse import (
    instance_body,
    is_task,
    parse_instance,
    parse_workspace,
    status_text,
    unwrap,
)

INSTANCE: dict[str, Any] = {
    "id": "INST-1",
    "handle": "summarizer",
    "packageId": "PKG-1",
    "packageHandle": "summarize-text",
    "userHandle": "sandbox",
    "packageVersionId": "VER-1",
    "packageVersionHandle": "1.2.0",
    "userId": "USER-1",
    "invocationURL": "https://sandbox.steamship.run/research/summarizer/",
    "config": {"model": "gpt-4", "max_words": 100},
    "workspaceId": "WS-1",
    "workspaceHandle": "research",
    "initStatus": "complete",
    "createdAt": "2026-01-01T00:00:00.000Z",
}


def test_a_workspace_is_keyed_and_named_by_its_handle() -> None:
    obj = parse_workspace({"id": "WS-1", "handle": "research", "userId": "U"})
    assert (obj.kind, obj.remote_id, obj.key, obj.name, dict(obj.attrs)) == (
        "workspaces",
        "WS-1",
        ("research",),
        "research",
        {},
    )


def test_an_instance_maps_to_the_spec_fields_and_keeps_what_the_engine_needs_aside() -> None:
    obj = parse_instance(INSTANCE)
    assert obj.key == ("research", "summarizer") and obj.name == "summarizer"
    assert dict(obj.attrs) == {
        "workspace": "research",
        "package": "summarize-text",
        "version": "1.2.0",
        "config": {"model": "gpt-4", "max_words": 100},
    }
    assert obj.extra["workspace_id"] == "WS-1"
    assert obj.extra["init_status"] == "complete"
    assert obj.extra["invocation_url"] == INSTANCE["invocationURL"]


def test_the_invocation_url_falls_back_to_the_api_notes_spelling() -> None:
    payload = {k: v for k, v in INSTANCE.items() if k != "invocationURL"}
    payload["invocationUrl"] = "https://x.steamship.run/a/b/"
    assert parse_instance(payload).extra["invocation_url"] == "https://x.steamship.run/a/b/"


def test_without_workspace_handle_the_handle_comes_from_the_workspace_list() -> None:
    payload = {k: v for k, v in INSTANCE.items() if k != "workspaceHandle"}
    obj = parse_instance(payload, {"WS-1": "research"})
    assert obj.attrs["workspace"] == "research" and obj.key == ("research", "summarizer")


def test_the_init_status_does_not_change_the_fingerprint() -> None:
    initializing = parse_instance({**INSTANCE, "initStatus": "initializing"})
    assert initializing.fingerprint == parse_instance(INSTANCE).fingerprint


def test_a_failed_init_taints_the_instance_with_the_engine_message() -> None:
    obj = parse_instance({**INSTANCE, "initStatus": "failed", "initStatusMessage": "init raised"})
    assert failed_init(obj) == "its initialisation failed (init raised)"
    assert failed_init(parse_instance(INSTANCE)) is None


@pytest.mark.parametrize("payload", [None, [], {"handle": "x"}, {"id": ""}])
def test_an_object_without_an_id_is_a_provider_error(payload: Any) -> None:
    with pytest.raises(ProviderError):
        parse_instance(payload)


def test_tasks_and_envelopes() -> None:
    assert is_task({"status": {"state": "running", "taskId": "T"}})
    assert not is_task({"data": {"workspace": {}}})
    assert unwrap({"data": {"a": 1}}, "call") == {"a": 1}
    with pytest.raises(ProviderError, match="no data"):
        unwrap({"workspace": {}}, "steamship POST workspace/get")


def test_a_failed_status_reads_as_message_code_and_suggestion() -> None:
    status = {
        "state": "failed",
        "statusMessage": 'Package "nope" was not found.',
        "statusCode": "NotFound",
        "statusSuggestion": "Check the handle.",
    }
    assert status_text(status) == 'Package "nope" was not found. [NotFound] (Check the handle.)'
    assert status_text({"state": "failed"}) == "no message from the engine"


def test_the_create_body_is_camel_case_and_never_fetches_an_existing_instance() -> None:
    attrs = {"workspace": "research", "package": "summarize-text", "version": None, "config": None}
    assert instance_body("s", attrs) == {
        "packageHandle": "summarize-text",
        "handle": "s",
        "fetchIfExists": False,
        "config": {},
    }
    pinned = {**attrs, "version": "1.0.0", "config": {"model": "m", "max_words": None}}
    body = instance_body("s", pinned)
    assert body["packageVersionHandle"] == "1.0.0" and body["config"] == {"model": "m"}


# --- config comparison (kinds/package_instances.py and the engine's partial mappings) ----------


def test_config_normalisation_follows_the_engines_coercions() -> None:
    assert normalise_config({"a": "200", "b": "1.5", "c": "true", "d": "gpt-4", "e": None}) == {
        "a": 200,
        "b": 1.5,
        "c": True,
        "d": "gpt-4",
    }
    assert normalise_config({"x": "nan"}) == {"x": "nan"}


def _config_diff(desired: Any, live: dict[str, Any]) -> list[str]:
    kind = PACKAGE_INSTANCES
    return [f.path for f in diff_attrs(kind, {"config": desired}, {"config": live})]


def test_defaults_the_engine_filled_in_are_not_a_difference() -> None:
    live = {"model": "gpt-4", "max_words": 100}
    assert _config_diff({"model": "gpt-4"}, live) == []
    assert _config_diff({"max_words": "100", "model": "gpt-4"}, live) == []  # key order, "100" vs 100
    assert _config_diff({}, live) == [] and _config_diff(None, live) == []


def test_a_written_key_that_differs_forces_a_replacement_named_by_its_path() -> None:
    kind = PACKAGE_INSTANCES
    diffs = diff_attrs(kind, {"config": {"max_words": 300}}, {"config": {"model": "m", "max_words": 100}})
    assert [(d.path, d.before, d.after) for d in diffs] == [("config.max_words", 100, 300)]
    assert diffs[0].forces_replacement == NO_UPDATE
    assert _config_diff({"temperature": 1}, {"model": "m"}) == ["config.temperature"]
