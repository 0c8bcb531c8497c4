"""Loading sequences: the package is read at load time, so validate catches its problems offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import load_stack
from reconciler.errors import ConfigError
from reconciler.kinds.sequences import canonical_instances


def stack(root: Path, sequences: dict[str, Any], hubs: dict[str, Any] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    hubs = {"local": {"url": "http://127.0.0.1:8000/api/v1"}} if hubs is None else hubs
    doc = {"version": 1, "providers": {"scramjet": {"hubs": hubs}}, "sequences": sequences}
    (root / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "stack.yaml"


def package(root: Path, name: str = "counter") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps({"name": name, "version": "2.0.0", "main": "index.js"}))
    (root / "index.js").write_text("module.exports = async function* () {};\n")
    return root


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_stack([path], {})
    return str(info.value)


def test_desired_attrs_carry_the_package_digest_and_version(tmp_path: Path) -> None:
    package(tmp_path / "s" / "pkg")
    spec = {"hub": "local", "package": "pkg", "instances": [{"args": [1]}]}
    (res,) = load_stack([stack(tmp_path / "s", {"counter": spec})], {}).resources
    assert res.attrs["package_digest"].startswith("sha256:") and res.attrs["package_version"] == "2.0.0"
    assert res.attrs["package_path"] == str((tmp_path / "s" / "pkg").resolve())
    assert res.create_attrs["package_digest"] == res.attrs["package_digest"]
    assert res.attrs["instances"] == [{"args": [1]}]  # as written; defaults only in create_attrs


def test_logical_name_must_equal_the_package_name(tmp_path: Path) -> None:
    package(tmp_path / "s" / "pkg", name="other")
    message = error_of(stack(tmp_path / "s", {"counter": {"hub": "local", "package": "pkg"}}))
    assert "stack.yaml:8:" in message and "sequences.counter" in message
    assert "package.json name is 'other'" in message and "package.json:1" in message


def test_unknown_hub_is_reported_at_the_field(tmp_path: Path) -> None:
    package(tmp_path / "s" / "pkg")
    message = error_of(stack(tmp_path / "s", {"counter": {"hub": "nope", "package": "pkg"}}))
    assert "stack.yaml:9:10:" in message and "unknown hub 'nope'" in message and "local" in message


def test_package_outside_the_stack_folder_is_refused(tmp_path: Path) -> None:
    package(tmp_path / "elsewhere")
    message = error_of(stack(tmp_path / "s", {"counter": {"hub": "local", "package": "../elsewhere"}}))
    assert "outside the stack's folder" in message and "sequences.counter.package" in message
    (tmp_path / "s" / "link").symlink_to(tmp_path / "elsewhere")
    message = error_of(stack(tmp_path / "s", {"counter": {"hub": "local", "package": "link"}}))
    assert "outside the stack's folder" in message


def test_symlink_loop_and_missing_package_are_config_errors(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "loop").symlink_to(root / "loop")
    message = error_of(stack(root, {"counter": {"hub": "local", "package": "loop"}}))
    assert "sequences.counter.package: package 'loop' cannot be followed: a symlink loop" in message
    message = error_of(stack(root, {"counter": {"hub": "local", "package": "missing"}}))
    assert "no such directory or file" in message


def test_bad_package_content_is_a_config_error(tmp_path: Path) -> None:
    pkg = package(tmp_path / "s" / "pkg")
    (pkg / "index.js").unlink()
    message = error_of(stack(tmp_path / "s", {"counter": {"hub": "local", "package": "pkg"}}))
    assert 'the entry file "index.js"' in message


def test_instances_compare_as_a_multiset_with_defaults() -> None:
    written = [{"args": [2]}, {"args": [1], "app_config": {"a": 1}}, {"args": [2]}]
    live = [
        {"args": [2], "app_config": {}},
        {"args": [2], "app_config": {}},
        {"args": [1], "app_config": {"a": 1}},
    ]
    assert canonical_instances(written) == canonical_instances(live)
    assert canonical_instances(written) != canonical_instances(live[:2])
