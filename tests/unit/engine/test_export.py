"""Export as a pure function: live objects → stack YAML that the loader accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import load_stack
from reconciler.engine.presenting.export import export_stack, slug
from reconciler.values import LiveObject, LiveState

CORE = {"class": "C0", "microarchitecture": "Athens", "precision": 128, "memory_size": 256000,
        "correlation_tracking": "autocorrelation"}  # fmt: skip
CORE_ID = "cor_" + "a" * 32
DEFAULT_CORE = "cor_" + "d" * 32


def core(name: str, remote_id: str = CORE_ID) -> LiveObject:
    return LiveObject("cores", remote_id, (name,), dict(CORE), name)


def repo(url: str, branch: str = "main", core_id: str | None = None, remote_id: str = "rep_1") -> LiveObject:
    attrs: dict[str, Any] = {"remote_url": url, "branch": branch, "commit": "HEAD", "build_directory": "src",
                             "arguments": "", "core": core_id, "data_sources": [],
                             "trace_variables": None}  # fmt: skip
    return LiveObject("repositories", remote_id, (url, branch), attrs, f"{url}@{branch}")


def hook(url: str, remote_id: str = "wh-1") -> LiveObject:
    attrs = {"url": url, "events": ["task-status"], "description": None, "status": "active"}
    return LiveObject("webhooks", remote_id, (url,), attrs, url)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (("https://github.com/acme/sensor-model", "main"), "sensor-model-main"),
        (("https://github.com/acme/sensor-model.git/", "release/1.x"), "sensor-model-release-1-x"),
        (("https://hooks.example.com/signaloid",), "hooks-example-com-signaloid"),
        (("https://git.example.org/team/project", "dev"), "git-example-org-team-project-dev"),
        (("///",), "resource"),
    ],
)
def test_slug(key: tuple[str, ...], expected: str) -> None:
    assert slug(key) == expected


def test_export_passes_the_loader_and_rewrites_references(tmp_path: Path) -> None:
    live = LiveState()
    for obj in (core("fast"), repo("https://github.com/acme/a", core_id=CORE_ID),
                repo("https://github.com/acme/b", core_id=DEFAULT_CORE, remote_id="rep_2"),
                hook("https://hooks.example.com/x")):  # fmt: skip
        live.add(obj)
    exported = export_stack(live, ["cores", "repositories", "webhooks"])
    assert exported.count == 4 and exported.skipped == []
    doc = yaml.safe_load(exported.text)
    assert doc["cores"]["fast"]["correlation_tracking"] == "Autocorrelation"
    assert doc["repositories"]["a-main"]["core"] == "fast"
    assert doc["repositories"]["b-main"]["core"] == DEFAULT_CORE, "a core outside the export stays an id"
    assert (
        "arguments" not in doc["repositories"]["a-main"]
        and "data_sources" not in doc["repositories"]["a-main"]
    )
    expected = {"url": "https://hooks.example.com/x", "events": ["task-status"], "status": "active"}
    assert doc["webhooks"]["hooks-example-com-x"] == expected
    (tmp_path / "stack.yaml").write_text(exported.text, encoding="utf-8")
    loaded = load_stack([tmp_path], {})
    addresses = ["cores.fast", "repositories.a-main", "repositories.b-main", "webhooks.hooks-example-com-x"]
    assert sorted(r.address for r in loaded.resources) == addresses


def test_what_cannot_be_expressed_is_left_out_and_said_so(tmp_path: Path) -> None:
    live = LiveState()
    live.add(core("has space", "cor_" + "1" * 32))
    live.add(hook("https://hooks.example.com/x", "wh-1"))
    live.add(hook("https://hooks.example.com/x", "wh-2"))
    live.add(repo("git@github.com:acme/ssh.git", remote_id="rep_ssh"))
    exported = export_stack(live, ["cores", "repositories", "webhooks"])
    assert exported.count == 1
    notes = "\n".join(exported.skipped)
    assert "its name 'has space' cannot be a stack name" in notes
    assert "wh-2: same the webhook URL as wh-1" in notes
    assert "rep_ssh: the live values are not a valid repositories spec (remote_url" in notes
    assert all(f"# not exported: {n}" in exported.text for n in exported.skipped)
    (tmp_path / "stack.yaml").write_text(exported.text, encoding="utf-8")
    assert [r.address for r in load_stack([tmp_path], {}).resources] == ["webhooks.hooks-example-com-x"]


def test_names_made_from_keys_are_unique() -> None:
    live = LiveState()
    live.add(repo("https://github.com/acme/model", remote_id="rep_1"))
    live.add(repo("https://github.com/other/model", remote_id="rep_2"))
    doc = yaml.safe_load(export_stack(live, ["repositories"]).text)
    assert sorted(doc["repositories"]) == ["model-main", "model-main-2"]


def instance(handle: str, workspace: str, remote_id: str) -> LiveObject:
    attrs = {"workspace": workspace, "package": "hello-world", "version": "1.1.0", "config": None}
    return LiveObject("package_instances", remote_id, (workspace, handle), attrs, handle)


def test_package_instances_keep_their_handle_and_one_handle_twice_is_named() -> None:
    live = LiveState()
    for obj in (
        LiveObject("workspaces", "ws-a", ("alpha",), {}, "alpha"),
        LiveObject("workspaces", "ws-b", ("beta",), {}, "beta"),
        instance("greeter", "alpha", "pi-1"),
        instance("greeter", "beta", "pi-2"),
    ):
        live.add(obj)
    exported = export_stack(live, ["workspaces", "package_instances"])
    doc = yaml.safe_load(exported.text)
    assert doc["package_instances"] == {"greeter": {"workspace": "alpha", "package": "hello-world",
                                                    "version": "1.1.0"}}  # fmt: skip
    assert exported.skipped == [
        "package_instances pi-2: named 'greeter' by its natural key (workspace handle, instance handle), "
        "a stack name another exported object already has; one stack holds one of them"
    ]


def test_a_kind_that_cannot_be_exported_says_why() -> None:
    live = LiveState()
    live.add(LiveObject("sequences", "local/s1", ("local", "counter"), {"hub": "local"}, "counter"))
    exported = export_stack(live, ["sequences"])
    assert exported.count == 0 and "sequences:" not in exported.text.split("version: 1")[1]
    (note,) = exported.skipped
    assert note.startswith("sequences (1 live): a sequence is declared with its package")
