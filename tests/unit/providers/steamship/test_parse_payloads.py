"""The Steamship parsers over payloads in the official client's own shapes (its models serialised by
itself) and the spelling of the API's notes, with edge cases: missing optional fields, extra fields, nulls."""

from __future__ import annotations

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.steamship.parse import is_task, parse_instance, parse_workspace, status_text, unwrap
from tests.support.payloads import names, payload


def test_every_fixture_is_used() -> None:
    assert names("steamship") == sorted(
        ["client-package-instance", "client-task-failed", "client-workspace", "notes-package-instance"]
    )


def test_client_shapes_parse() -> None:
    ws = parse_workspace(payload("steamship", "client-workspace"))
    assert (ws.remote_id, ws.key, ws.name) == ("WS-1", ("research",), "research")
    inst = parse_instance(payload("steamship", "client-package-instance"))
    assert inst.key == ("research", "summarizer")
    assert inst.attrs == {"workspace": "research", "package": "summarize-text", "version": "1.2.0",
                          "config": {"model": "gpt-4"}}  # fmt: skip
    assert inst.extra["invocation_url"] == "https://acme.steamship.run/research/summarizer/"
    assert inst.extra["init_status"] == "initializing"


def test_both_invocation_url_spellings_are_the_same_instance() -> None:
    client = parse_instance(payload("steamship", "client-package-instance"))
    notes = parse_instance(payload("steamship", "notes-package-instance"))
    assert (notes.attrs, notes.extra) == (client.attrs, client.extra)


def test_a_failed_task_in_the_clients_shape() -> None:
    status = payload("steamship", "client-task-failed")
    assert is_task({"status": status}) and not is_task({"data": status})
    assert status_text(status) == "Package init failed [InitFailed] (Check the config)"


def test_edge_cases() -> None:
    inst = payload("steamship", "client-package-instance")
    del inst["workspaceHandle"]  # optional: the handle then comes from the workspace list
    assert parse_instance(inst, {"WS-1": "research"}).key == ("research", "summarizer")
    nulls = {**payload("steamship", "client-package-instance"), "config": None, "packageVersionHandle": None}
    assert parse_instance(nulls).attrs["config"] == {} and parse_instance(nulls).attrs["version"] is None
    extra = {**payload("steamship", "client-package-instance"), "newField": [1]}
    assert (
        parse_instance(extra).attrs == parse_instance(payload("steamship", "client-package-instance")).attrs
    )
    assert (
        unwrap({"data": {"workspace": payload("steamship", "client-workspace")}}, "x")["workspace"]["id"]
        == "WS-1"
    )
    with pytest.raises(ProviderError, match="without an id"):
        parse_workspace({"id": None, "handle": "research"})
    with pytest.raises(ProviderError, match="no data"):
        unwrap(
            {"task": {"taskId": "T", "taskState": "running"}}, "x"
        )  # the seed's envelope: not the client's
