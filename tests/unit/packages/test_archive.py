"""Issue 18.6: ready-made .tar.gz packages are checked while streaming, with the rules of a packed
directory, before they are trusted or uploaded. Each hostile archive of the attack is built here."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.packages import archive as package_archive
from reconciler.packages.archive import ArchiveProblem, check_archive
from reconciler.packages.pack import PackageError, load_package

MANIFEST = json.dumps({"name": "demo", "main": "index.js", "version": "1.0.0"}).encode()
Entry = Callable[[tarfile.TarFile], None]


def file(name: str, data: bytes = b"") -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    return add


def special(name: str, kind: bytes, target: str = "") -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)

    return add


def archive(*entries: Entry, base: bool = True) -> bytes:
    """A .tar.gz with package.json and index.js (``base``) followed by ``entries``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for add in ([file("package.json", MANIFEST), file("index.js", b"x")] if base else []) + list(entries):
            add(tar)
    return out.getvalue()


def check(data: bytes) -> package_archive.Checked:
    return check_archive(io.BytesIO(data))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (file("../evil.js", b"x"), r"'\.\.' component leads out"),
        (file("lib/../../evil.js", b"x"), r"'\.\.' component leads out"),
        (file("/etc/cron.d/evil", b"x"), "absolute path"),
        (special("passwd", tarfile.SYMTYPE, "/etc/passwd"), "symlink to '/etc/passwd' may lead out"),
        (special("up", tarfile.SYMTYPE, "../../etc/passwd"), "may lead out"),
        (special("hard", tarfile.LNKTYPE, "/etc/passwd"), "hardlink to '/etc/passwd'"),
        (special("hard", tarfile.LNKTYPE, "../etc/passwd"), "hardlink to '../etc/passwd'"),
        (special("tty", tarfile.CHRTYPE), "a device, FIFO or other special file"),
        (special("disk", tarfile.BLKTYPE), "a device, FIFO or other special file"),
        (special("pipe", tarfile.FIFOTYPE), "a device, FIFO or other special file"),
        (file("package.json", b"{}"), "'package.json' appears twice"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_hostile_entries_are_refused_naming_the_entry(entry: Entry, message: str) -> None:
    with pytest.raises(ArchiveProblem, match=message):
        check(archive(entry))


def test_nothing_may_be_stored_under_a_symlink() -> None:
    """``a -> .`` then ``a/../x`` or ``a/l -> ../x`` would escape though each looks inside."""
    with pytest.raises(ArchiveProblem, match="stored under the symlink 'a'"):
        check(archive(special("a", tarfile.SYMTYPE, "."), file("a/evil.js", b"x")))


def test_links_that_stay_inside_are_accepted() -> None:
    found = check(
        archive(
            special("alias.js", tarfile.SYMTYPE, "index.js"), special("copy.js", tarfile.LNKTYPE, "index.js")
        )
    )
    assert found.files == {"package.json", "index.js"}
    assert json.loads(found.manifest)["name"] == "demo"


def test_too_many_entries_stop_the_stream_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package_archive, "MAX_ENTRIES", 100)
    data = archive(*(file(f"f{i}.js") for i in range(200)))
    with pytest.raises(ArchiveProblem, match="more than 100 entries"):
        check(data)
    check(archive(*(file(f"f{i}.js") for i in range(98))))  # 100 with package.json and index.js


def test_a_header_announcing_more_than_the_cap_is_refused_before_its_data_is_read() -> None:
    info = tarfile.TarInfo("huge.bin")
    info.size = 300 * 2**30  # 300 GiB announced; only the header is there
    header = gzip.compress(tarfile.TarInfo("package.json").tobuf() + info.tobuf())
    with pytest.raises(ArchiveProblem, match="expands to more than 256 MiB"):
        check(header)


def test_a_compression_bomb_is_refused() -> None:
    data = archive(file("zeros.bin", bytes(40 * 2**20)))  # 40 MiB of zeros: ~40 KiB compressed
    assert len(data) < 2**20
    with pytest.raises(ArchiveProblem, match="expands more than 100 times its compressed size"):
        check(data)


def test_the_package_json_must_be_at_the_root_and_the_archive_readable() -> None:
    with pytest.raises(ArchiveProblem, match="not at the root"):
        check(archive(file("demo/package.json", MANIFEST), base=False))
    with pytest.raises(ArchiveProblem, match=r"not a readable \.tar\.gz"):
        check(b"junk" * 100)
    with pytest.raises(ArchiveProblem, match=r"not a readable \.tar\.gz"):
        check(archive()[:-30])  # truncated


def test_the_digest_covers_every_byte_as_uploaded(tmp_path: Path) -> None:
    data = archive()
    path = tmp_path / "demo.tar.gz"
    path.write_bytes(data)
    package = load_package(path)
    assert package.data == data and check(data).digest == package.digest


def test_validate_refuses_a_hostile_tarball_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "demo.tar.gz").write_bytes(archive(special("passwd", tarfile.SYMTYPE, "/etc/passwd")))
    stack = {"version": 1, "providers": {"scramjet": {"hubs": {"local": {"url": "http://127.0.0.1:9/api/v1"}}}},
             "sequences": {"demo": {"hub": "local", "package": "./demo.tar.gz"}}}  # fmt: skip
    (tmp_path / "stack.yaml").write_text(json.dumps(stack), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "-f", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        "demo.tar.gz: entry 'passwd': symlink to '/etc/passwd' may lead out of the package" in result.output
    )
    assert "Traceback" not in result.output
    with pytest.raises(PackageError, match="symlink to '/etc/passwd'"):
        load_package(tmp_path / "demo.tar.gz")
