"""The kinds and the emulators each state the APIs' rules (enums, ranges, wire names, handles).

They are written apart on purpose, each from the API notes, so an emulator is a second reading of
the API and not a copy of our spec; these tests hold the two readings equal, so that neither can
drift without a failing test. And a live object's natural key has one author: ``Kind.natural_key``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

import reconciler.providers
from reconciler.kinds import KINDS, cores, repositories, webhooks
from reconciler.kinds.fields import STEAMSHIP_HANDLE
from reconciler.providers.scramjet.parse import parse_sequence
from reconciler.providers.signaloid import parse as signaloid_parse
from reconciler.providers.steamship.parse import parse_instance, parse_workspace
from reconciler.sandbox import signaloid_rules as rules
from reconciler.sandbox import steamship as steamship_emulator


def _literal(model: Any, name: str) -> set[str]:
    annotation = model.model_fields[name].annotation
    while get_args(annotation) and not all(isinstance(a, str) for a in get_args(annotation)):
        annotation = get_args(annotation)[0]  # Annotated[Literal[...], ...], list[Literal[...]]
    return set(get_args(annotation))


def test_core_enums_are_the_emulators() -> None:
    assert _literal(cores.CoreSpec, "core_class") == set(rules.CORE_CLASSES)
    assert _literal(cores.CoreSpec, "microarchitecture") == set(rules.MICROARCHITECTURES)
    assert {v.casefold() for v in cores.CORRELATION_TRACKING} == set(rules.CORRELATION_TRACKING)
    assert _literal(cores.CoreSpec, "correlation_tracking") == set(cores.CORRELATION_TRACKING)


def test_repository_and_webhook_enums_are_the_emulators() -> None:
    assert _literal(repositories.DataSource, "resource_type") == set(rules.DATA_SOURCE_TYPES)
    assert set(get_args(webhooks.Event)) == set(rules.WEBHOOK_EVENTS)
    assert _literal(webhooks.WebhookSpec, "status") == set(rules.WEBHOOK_STATUSES)


def _core(**change: Any) -> dict[str, Any]:
    spec = {"class": "C0", "microarchitecture": "Athens", "precision": 64, "memory_size": 256_000,
            "correlation_tracking": "Disable"}  # fmt: skip
    return {**spec, **change}


@pytest.mark.parametrize(
    ("arch", "low", "high"),
    [
        ("Athens", rules.PRECISION_MIN, rules.PRECISION_MAX),
        ("Reference", rules.PRECISION_MIN, rules.PRECISION_MAX_REFERENCE),
    ],
)
def test_precision_range_is_the_emulators(arch: str, low: int, high: int) -> None:
    for ok in (low, high):
        cores.CoreSpec.model_validate(_core(microarchitecture=arch, precision=ok))
    for bad in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            cores.CoreSpec.model_validate(_core(microarchitecture=arch, precision=bad))


def test_memory_range_and_data_source_limit_are_the_emulators() -> None:
    low, high = rules.MEMORY_RANGE
    for ok in (low, high):
        cores.CoreSpec.model_validate(_core(memory_size=ok))
    for bad in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            cores.CoreSpec.model_validate(_core(memory_size=bad))
    source = {"resource_id": "r", "resource_type": "Bucket", "location": "l"}
    repo = {"remote_url": "https://example.com/r", "branch": "main"}
    repositories.RepositorySpec.model_validate({**repo, "data_sources": [source] * rules.MAX_DATA_SOURCES})
    with pytest.raises(ValidationError):
        repositories.RepositorySpec.model_validate(
            {**repo, "data_sources": [source] * (rules.MAX_DATA_SOURCES + 1)}
        )


def test_wire_names_are_the_emulators() -> None:
    assert {"Name", *signaloid_parse.CORE_FIELDS.values()} == set(rules.CORE_FIELDS)
    assert set(signaloid_parse.REPOSITORY_FIELDS.values()) == set(rules.REPOSITORY_FIELDS)
    assert set(signaloid_parse.REMOVABLE.values()) == set(rules.REMOVABLE_REPOSITORY_FIELDS)
    assert set(signaloid_parse.CORE_FIELDS) == set(cores.CoreSpec.model_json_schema()["properties"])
    assert set(signaloid_parse.REPOSITORY_FIELDS) == set(repositories.RepositorySpec.model_fields)


def test_steamship_handle_rule_is_the_emulators() -> None:
    assert re.compile(STEAMSHIP_HANDLE[0]).pattern == steamship_emulator._HANDLE.pattern


# --- natural keys: computed by the kind alone, the same for a live object as for its desired twin


def test_live_keys_are_the_kinds_keys() -> None:
    repo = signaloid_parse.parse_repository(
        {"RepositoryID": "rep_1", "RemoteURL": "https://git.example/r/", "Branch": "main"}
    )
    assert repo.key == repositories.KIND.natural_key(
        "x", {"remote_url": "https://git.example/r", "branch": "main"}
    )
    assert repo.name == "https://git.example/r@main"
    hook = signaloid_parse.parse_webhook({"WebhookID": "wh_1", "URL": "https://h.example/x", "Events": []})
    assert (
        hook.key == webhooks.KIND.natural_key("x", {"url": "https://h.example/x"})
        and hook.name == "https://h.example/x"
    )
    core = signaloid_parse.parse_core({"CoreID": "cor_1", "Name": "fast"})
    assert core.key == cores.KIND.natural_key("fast", {})
    assert parse_workspace({"id": "ws_1", "handle": "team"}).key == ("team",)
    instance = parse_instance({"id": "pi_1", "handle": "bot", "workspaceId": "ws_1"}, {"ws_1": "team"})
    assert instance.key == ("team", "bot")
    sequence = parse_sequence("local", {"id": "s1", "config": {"name": "pkg"}}, [], {})
    assert (sequence.key, sequence.remote_id) == (("local", "pkg"), "local/s1")


def test_no_provider_builds_a_live_object_itself() -> None:
    """Providers parse attributes; ``Kind.live`` (so ``natural_key``) makes the LiveObject."""
    calls = []
    for path in Path(reconciler.providers.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "LiveObject":
                calls.append(f"{path.name}:{node.lineno}")
    assert calls == []
    assert all(kind.natural_key is not None for kind in KINDS)
