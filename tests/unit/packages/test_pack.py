"""Packing sequence packages: same files → same bytes, excludes honoured, problems named clearly."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from reconciler.packages.pack import PackageError, load_package, pack_directory

MANIFEST = {"name": "demo", "version": "1.2.3", "main": "index.js"}


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def package_dir(root: Path, **extra: str) -> Path:
    return make(root, {"package.json": json.dumps(MANIFEST), "index.js": "module.exports = 1;\n", **extra})


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def names(data: bytes) -> list[str]:
    return [m.name for m in members(data)]


def test_same_files_give_the_same_bytes_whatever_their_times_and_order(tmp_path: Path) -> None:
    first = package_dir(tmp_path / "one", **{"lib/b.js": "b", "lib/a.js": "a"})
    second = make(tmp_path / "two", {"lib/a.js": "a", "lib/b.js": "b"})
    package_dir(second)
    os.utime(second / "index.js", (1_000_000, 1_000_000))
    assert pack_directory(first) == pack_directory(second)
    assert load_package(first).digest == load_package(second).digest
    data = pack_directory(first)
    assert names(data) == ["index.js", "lib", "lib/a.js", "lib/b.js", "package.json"]
    assert all((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "") for m in members(data))
    assert data[4:8] == b"\0\0\0\0"  # gzip header MTIME
    assert gzip.decompress(data)  # a plain gzip stream, package.json at the root
    (first / "lib" / "a.js").write_text("changed")
    assert load_package(first).digest != load_package(second).digest


def test_executable_bit_is_kept_and_nothing_else_of_the_mode(tmp_path: Path) -> None:
    root = package_dir(tmp_path / "p", **{"run.sh": "#!/bin/sh\n"})
    (root / "run.sh").chmod(0o775)
    (root / "index.js").chmod(0o600)
    modes = {m.name: m.mode for m in members(pack_directory(root))}
    assert (modes["run.sh"], modes["index.js"]) == (0o755, 0o644)


def test_noise_and_npmignore_patterns_are_left_out(tmp_path: Path) -> None:
    root = package_dir(
        tmp_path / "p",
        **{
            ".npmignore": "*.log\n/build/\n!keep.log\ndocs/**/*.md\n",
            ".gitignore": "index.js\n",  # ignored: .npmignore wins, as with npm
            "node_modules/.cache/x": "cache",
            "node_modules/dep/index.js": "dep",
            ".git/HEAD": "ref",
            "debug.log": "log",
            "keep.log": "kept",
            "sub/build/out.js": "not anchored at the root: kept",
            "build/out.js": "anchored: dropped",
            "docs/a/b/c.md": "dropped",
            "docs/readme.txt": "kept",
        },
    )
    packed = set(names(pack_directory(root)))
    assert packed == {
        "package.json",
        "index.js",
        "keep.log",
        "node_modules",
        "node_modules/dep",
        "node_modules/dep/index.js",
        "sub",
        "sub/build",
        "sub/build/out.js",
        "docs",
        "docs/a",
        "docs/a/b",
        "docs/readme.txt",
    }


def test_gitignore_is_used_without_an_npmignore_but_package_json_always_goes(tmp_path: Path) -> None:
    root = package_dir(tmp_path / "p", **{".gitignore": "*.json\ntmp/\n", "tmp/x": "x", "data.json": "{}"})
    assert names(pack_directory(root)) == ["index.js", "package.json"]


def test_gitignore_escapes_are_honoured(tmp_path: Path) -> None:
    """A hand-written glob translation (before pathspec) read ``\\#x`` as a comment and ``\\!x`` as a
    negation, and dropped escaped trailing spaces: those files were packed."""
    ignore = "\\#notes.txt\n\\!bang.txt\nspace\\ \n[!a]*.tmp\n"
    files = {".npmignore": ignore, "#notes.txt": "", "!bang.txt": "", "space ": "", "b.tmp": "", "a.tmp": ""}
    packed = names(pack_directory(package_dir(tmp_path / "p", **files)))
    assert packed == ["a.tmp", "index.js", "package.json"]


@pytest.mark.parametrize(
    ("manifest", "files", "message"),
    [
        (None, {}, "no package.json"),
        ("{not json", {}, "package.json:1: not valid JSON"),
        ("[]", {}, "must be a JSON object"),
        (json.dumps({"main": "index.js"}), {"index.js": ""}, '"name" must be a non-empty string'),
        (json.dumps({"name": "x"}), {}, '"main" must be a non-empty string'),
        (json.dumps({"name": "x", "main": "gone.js"}), {}, 'the entry file "gone.js" ("main") is not in'),
    ],
)
def test_invalid_packages_are_refused_before_upload(
    tmp_path: Path, manifest: str | None, files: dict[str, str], message: str
) -> None:
    root = make(tmp_path / "p", files)
    root.mkdir(exist_ok=True)
    if manifest is not None:
        (root / "package.json").write_text(manifest)
    with pytest.raises(PackageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_package(root)


def test_main_may_name_a_folder_or_omit_js(tmp_path: Path) -> None:
    root = make(
        tmp_path / "p", {"package.json": json.dumps({"name": "x", "main": "lib"}), "lib/index.js": ""}
    )
    assert load_package(root).name == "x"


def test_a_ready_tarball_is_read_and_checked(tmp_path: Path) -> None:
    data = pack_directory(package_dir(tmp_path / "p"))
    ready = tmp_path / "demo.tar.gz"
    ready.write_bytes(data)
    package = load_package(ready)
    assert (package.name, package.version, package.data) == ("demo", "1.2.3", data)

    nested = io.BytesIO()
    with tarfile.open(fileobj=nested, mode="w:gz") as tar:
        blob = json.dumps(MANIFEST).encode()
        info = tarfile.TarInfo("demo/package.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    (tmp_path / "nested.tar.gz").write_bytes(nested.getvalue())
    with pytest.raises(PackageError, match="not at the root of the archive"):
        load_package(tmp_path / "nested.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(PackageError, match=r"not a readable \.tar\.gz"):
        load_package(tmp_path / "junk.tar.gz")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(PackageError, match=r"a directory or a \.tar\.gz"):
        load_package(tmp_path / "notes.txt")


def test_symlinks_inside_are_followed_loops_and_escapes_are_errors(tmp_path: Path) -> None:
    root = package_dir(tmp_path / "p", **{"real/x.js": "x"})
    (root / "alias.js").symlink_to(root / "index.js")
    assert "alias.js" in names(pack_directory(root))

    (root / "real" / "loop").symlink_to(root / "real")
    with pytest.raises(PackageError, match="symlink loop"):
        pack_directory(root)
    (root / "real" / "loop").unlink()
    (root / "self.js").symlink_to(root / "self.js")  # a link to itself: worded alike on every Python
    with pytest.raises(PackageError, match=r"self\.js: a symlink loop \(a symbolic link that leads back"):
        pack_directory(root)
    (root / "self.js").unlink()

    outside = make(tmp_path / "outside", {"secret.txt": "s"})
    (root / "leak").symlink_to(outside)
    with pytest.raises(PackageError, match="leads out of the package"):
        pack_directory(root)


def test_sizes_are_checked_by_stat_before_any_file_is_read(tmp_path: Path) -> None:
    import resource

    root = package_dir(tmp_path / "pkg")
    with (root / "big.bin").open("wb") as fh:  # sparse: 600 MB claimed, nothing on disk
        fh.truncate(600 * 2**20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PackageError, match=r"big\.bin: 629,145,600 bytes, more than the 256 MiB cap"):
        pack_directory(root)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, f"{grown_kib} KiB read"  # the file was never read
