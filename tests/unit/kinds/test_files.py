"""Loading ``files``: one resource per file, etag computed while reading, and the local-file limits
(inside the stack's folder, no symlink out, no device or FIFO, caps per file and per stack)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import load_stack
from reconciler.errors import ConfigError
from reconciler.kinds import files
from reconciler.packages.tree import Caps, TreeProblem, walk


def stack(root: Path, resources: dict[str, Any], **sections: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "files": resources, **sections}
    (root / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "stack.yaml"


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_stack([path], {})
    return str(info.value)


def folder(root: Path, contents: dict[str, bytes]) -> Path:
    for name, data in contents.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def test_a_folder_is_one_resource_per_file_with_its_md5_etag(tmp_path: Path) -> None:
    folder(tmp_path / "s" / "data", {"a.csv": b"alpha\n", "sub/b.csd": b"beta\n"})
    path = stack(tmp_path / "s", {"inputs": {"source": "data", "path": "in/"}})
    resources = {r.address: r.attrs for r in load_stack([path], {}).resources}
    assert set(resources) == {"files.inputs/a.csv", "files.inputs/sub/b.csd"}
    a = resources["files.inputs/a.csv"]
    assert a["path"] == "in/a.csv" and a["size"] == 6
    assert a["etag"] == '"' + hashlib.md5(b"alpha\n").hexdigest() + '"'
    assert resources["files.inputs/sub/b.csd"]["path"] == "in/sub/b.csd"


def test_a_single_file_goes_to_its_path_or_into_a_folder(tmp_path: Path) -> None:
    folder(tmp_path / "s", {"x.csv": b"x"})
    path = stack(
        tmp_path / "s",
        {"exact": {"source": "x.csv", "path": "a/y.csv"}, "into": {"source": "x.csv", "path": "b/"}},
    )
    paths = {r.address: r.attrs["path"] for r in load_stack([path], {}).resources}
    assert paths == {"files.exact/x.csv": "a/y.csv", "files.into/x.csv": "b/x.csv"}


def test_the_etag_is_computed_in_chunks_never_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 2**20 + 17)
    folder(tmp_path / "s", {"big.bin": data})
    path = stack(tmp_path / "s", {"big": {"source": "big.bin", "path": "big.bin"}})
    (res,) = load_stack([path], {}).resources
    assert res.attrs["etag"] == f'"{hashlib.md5(data).hexdigest()}"'


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"source": "../outside", "path": "x/"}, "outside the stack's folder"),
        ({"source": "missing", "path": "x/"}, "no such file or folder"),
        ({"source": "data", "path": "x"}, "write 'x/'"),
        ({"source": "data", "path": "/abs/"}, "relative to the storage root"),
        ({"source": "data", "path": "a/../b/"}, "'..' segments"),
    ],
)
def test_bad_sources_and_paths_are_clear_errors(tmp_path: Path, spec: dict[str, str], why: str) -> None:
    folder(tmp_path / "outside", {"o.csv": b"o"})
    folder(tmp_path / "s" / "data", {"a.csv": b"a"})
    assert why in error_of(stack(tmp_path / "s", {"inputs": spec}))


def test_a_symlink_out_of_the_source_is_refused(tmp_path: Path) -> None:
    folder(tmp_path / "secret", {"key": b"k"})
    folder(tmp_path / "s" / "data", {"a.csv": b"a"})
    (tmp_path / "s" / "data" / "leak").symlink_to(tmp_path / "secret" / "key")
    assert "symlink leads out" in error_of(
        stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}})
    )


def test_a_fifo_is_refused_without_reading_it(tmp_path: Path) -> None:
    folder(tmp_path / "s" / "data", {"a.csv": b"a"})
    os.mkfifo(tmp_path / "s" / "data" / "pipe")
    assert "FIFO" in error_of(stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}))


def test_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "dev").symlink_to("/dev/zero")  # would never end
    assert "outside the stack's folder" in error_of(
        stack(tmp_path / "s", {"z": {"source": "dev", "path": "z"}})
    )
    with pytest.raises(TreeProblem, match="a device, FIFO or socket"):  # the walker's own rule
        walk(Path("/dev/zero"), Caps(10, 10, 10))


def test_caps_per_file_and_per_stack_are_checked_with_stat_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder(tmp_path / "s" / "data", {"a.csv": b"a" * 100, "b.csv": b"b" * 100})
    with (tmp_path / "s" / "data" / "sparse.bin").open("wb") as fh:  # 8 GiB on paper, nothing on disk
        fh.truncate(8 * 2**30)
    message = error_of(stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}))
    assert "cap per file" in message
    (tmp_path / "s" / "data" / "sparse.bin").unlink()
    monkeypatch.setattr(files, "MAX_STACK_BYTES", 150)
    two = {"one": {"source": "data/a.csv", "path": "a"}, "two": {"source": "data/b.csv", "path": "b"}}
    assert "the stack's cap" in error_of(stack(tmp_path / "s", two))


def test_a_repository_data_source_names_files_and_waits_for_them(tmp_path: Path) -> None:
    folder(tmp_path / "s" / "data", {"a.csv": b"a", "b.csv": b"b"})
    source = {
        "files": "inputs",
        "resource_id": "x",
        "resource_type": "SignaloidCloudStorage",
        "location": "sd0",
    }
    repo = {"remote_url": "https://github.com/acme/m", "branch": "main", "data_sources": [source]}
    path = stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}, repositories={"m": repo})
    (res,) = [r for r in load_stack([path], {}).resources if r.kind == "repositories"]
    assert res.refs == ("files.inputs/a.csv", "files.inputs/b.csv")
    assert "files" not in res.attrs["data_sources"][0]  # ours only: never sent, never compared
    wrong = {**repo, "data_sources": [{**source, "files": "nope"}]}
    stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}, repositories={"m": wrong})
    assert "'nope' is not one of this stack's files (inputs)" in error_of(tmp_path / "s" / "stack.yaml")
    gateway = {**repo, "data_sources": [{**source, "resource_type": "Gateway"}]}
    stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}, repositories={"m": gateway})
    assert "resource_type must be SignaloidCloudStorage" in error_of(tmp_path / "s" / "stack.yaml")


def test_a_local_name_storage_cannot_hold_is_refused_by_name(tmp_path: Path) -> None:
    folder(tmp_path / "s" / "data", {"ok.csv": b"a", "bad\x1b[31mname.csv": b"b"})
    message = error_of(stack(tmp_path / "s", {"inputs": {"source": "data", "path": "x/"}}))
    assert "cannot be stored" in message and "control characters" in message
