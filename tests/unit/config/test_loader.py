"""The loader: YAML with line marks, ${env:} interpolation, limits, many files → Desired."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config import load_stack
from reconciler.config import loader as loader_module
from reconciler.config.loader import MarkedDict, MarkedList, load_file, stack_files
from reconciler.errors import ConfigError
from reconciler.state.settings import StateSettings
from reconciler.values import Ref

CORE = (
    "  {name}:\n    class: C0\n    microarchitecture: Athens\n    precision: 128\n"
    "    memory_size: 256000\n    correlation_tracking: Autocorrelation\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_and_value_knows_its_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "version: 1\nwebhooks:\n  hook:\n    events: [a, b]\n")
    data = load_file(path, {}).data
    assert isinstance(data, MarkedDict)
    hook = data["webhooks"]["hook"]
    assert (hook.key_marks["events"].line, hook.key_marks["events"].column) == (4, 5)
    assert (hook.value_marks["events"].line, hook.value_marks["events"].column) == (4, 13)
    events = hook["events"]
    assert isinstance(events, MarkedList)
    assert [(m.line, m.column) for m in events.item_marks] == [(4, 14), (4, 17)]
    assert data.key_marks["webhooks"].file == str(path)


def test_env_interpolation_and_the_literal_escape(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        'a: "${env:HOST}:${env:PORT}"\nb: "$${env:HOST}"\nc: "plain $ and ${ not env"\n',
    )
    loaded = load_file(path, {"HOST": "example.org", "PORT": "8443"})
    assert loaded.data == {"a": "example.org:8443", "b": "${env:HOST}", "c": "plain $ and ${ not env"}
    # Only the interpolated scalar is remembered as coming from the environment.
    assert loaded.secret_positions == {(1, 4)}


def test_env_values_are_not_parsed_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", 'a: "${env:V}"\n')
    assert load_file(path, {"V": "[1, 2]\nb: c"}).data == {"a": "[1, 2]\nb: c"}


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [({}, "environment variable TOKEN is not set"), ({"TOKEN": ""}, "TOKEN is set but empty")],
)
def test_missing_or_empty_variable_is_an_error_at_its_line(
    tmp_path: Path, environ: dict[str, str], fragment: str
) -> None:
    path = write(tmp_path / "s.yaml", 'version: 1\n\nkey: "prefix-${env:TOKEN}"\n')
    with pytest.raises(ConfigError) as caught:
        load_file(path, environ)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.column) == (str(path), 3, 6)
    assert fragment in issue.message


def test_the_depth_limit(tmp_path: Path) -> None:
    depth = loader_module.MAX_DEPTH
    ok = write(tmp_path / "ok.yaml", "a: " + "[" * (depth - 2) + "]" * (depth - 2) + "\n")
    load_file(ok, {})
    deep = write(tmp_path / "deep.yaml", "a: " + "[" * (depth + 1) + "]" * (depth + 1) + "\n")
    with pytest.raises(ConfigError, match=f"nested more than {depth} levels"):
        load_file(deep, {})


def test_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_module, "MAX_FILE_BYTES", 1024 * 1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_file(path, {})


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffversion: 1\n".encode())
    assert load_file(path, {}).data == {"version": 1}


def test_an_empty_file_loads_as_none(tmp_path: Path) -> None:
    assert load_file(write(tmp_path / "e.yaml", "# only a comment\n"), {}).data is None


def test_stack_files_expands_directories_sorted_and_once(tmp_path: Path) -> None:
    b = write(tmp_path / "b.yml", "")
    a = write(tmp_path / "a.yaml", "")
    write(tmp_path / "notes.txt", "")
    write(tmp_path / "sub" / "c.yaml", "")  # not recursive
    assert stack_files([tmp_path]) == [a, b]
    assert stack_files([b, tmp_path, a]) == [b, a]


def test_stack_files_reports_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        stack_files([tmp_path / "missing.yaml"])


def test_load_stack_merges_files_and_resolves_references(tmp_path: Path) -> None:
    write(tmp_path / "cores.yaml", "version: 1\ncores:\n" + CORE.format(name="fast"))
    write(
        tmp_path / "repos.yaml",
        "version: 1\nrepositories:\n"
        "  a: { remote_url: https://github.com/acme/a/, branch: main, core: fast }\n"
        "  b: { remote_url: https://github.com/acme/b, branch: main, core: cor_" + "0" * 32 + " }\n"
        "  c: { remote_url: https://github.com/acme/c, branch: main, core: null }\n",
    )
    loaded = load_stack([tmp_path], {})
    assert loaded.root == tmp_path
    assert [p.name for p in loaded.files] == ["cores.yaml", "repos.yaml"]
    by = {r.address: r for r in loaded.resources}
    assert set(by) == {"cores.fast", "repositories.a", "repositories.b", "repositories.c"}
    assert by["repositories.a"].attrs["core"] == Ref("cores.fast")
    assert by["repositories.a"].create_attrs["core"] == Ref("cores.fast")
    assert by["repositories.b"].attrs["core"] == "cor_" + "0" * 32
    # Only what the user wrote is managed; defaults ride along for create only.
    assert set(by["repositories.a"].attrs) == {"remote_url", "branch", "core"}
    assert by["repositories.a"].create_attrs["build_directory"] == "src"
    assert by["repositories.a"].create_attrs["commit"] == "HEAD"
    # `core: null` is written, so it is managed (it clears the core); an omitted core is not.
    assert "core" in by["repositories.c"].attrs and by["repositories.c"].attrs["core"] is None
    assert by["repositories.a"].location is not None
    assert (Path(by["repositories.a"].location.file).name, by["repositories.a"].location.line) == (
        "repos.yaml",
        3,
    )


def test_enum_case_is_canonicalised(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        "version: 1\ncores:\n" + CORE.format(name="c").replace("Autocorrelation", "AUTOcorrelation"),
    )
    (core,) = load_stack([path], {}).resources
    assert core.attrs["correlation_tracking"] == "Autocorrelation"
    assert core.attrs["class"] == "C0"  # the YAML key `class`, not the Python field name


def test_numbers_from_the_environment_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml", "version: 1\ncores:\n" + CORE.format(name="c").replace("128", '"${env:P}"')
    )
    (core,) = load_stack([path], {"P": "256"}).resources
    assert core.attrs["precision"] == 256


def test_every_issue_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        "version: 1\ncores:\n"
        + CORE.format(name="a").replace("precision: 128", "precison: 128")
        + CORE.format(name="b").replace("Athens", "Athen"),
    )
    with pytest.raises(ConfigError) as caught:
        load_stack([path], {})
    text = str(caught.value)
    assert "unknown field 'precison'" in text and "'Athen'" in text
    lines = sorted(i.line or 0 for i in caught.value.issues)
    assert lines == sorted(lines) and len(set(lines)) >= 2


def test_unknown_field_hint_lists_choices_when_nothing_is_close(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "version: 1\nstate:\n  zzz: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_stack([path], {})
    (issue,) = caught.value.issues
    assert issue.line == 3 and issue.field == "state.zzz"
    names = ", ".join(f.alias or n for n, f in StateSettings.model_fields.items())
    assert issue.message == f"unknown field 'zzz'; expected one of: {names}"


def test_a_message_says_what_it_got_once(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "version: 1\ncores:\n" + CORE.format(name="c").replace("128", "true"))
    with pytest.raises(ConfigError) as caught:
        load_stack([path], {})
    assert str(caught.value).count("got") == 1, str(caught.value)


def test_a_stack_file_that_is_a_fifo_or_a_device_is_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "stack" / "fifo.yaml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(ConfigError, match=r"fifo\.yaml: cannot read file: not a regular file: a FIFO"):
        load_file(fifo, {})
    with pytest.raises(ConfigError, match=r"fifo\.yaml: cannot read file: not a regular file: a FIFO"):
        stack_files([fifo.parent])  # in a stack folder: refused, never skipped
    with pytest.raises(ConfigError, match=r"fifo\.yaml: cannot read file: not a regular file: a FIFO"):
        stack_files([fifo])  # named with -f: not "no such file or directory"
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    with pytest.raises(
        ConfigError, match=r"zero\.yaml: cannot read file: not a regular file: a character device"
    ):
        load_file(zero, {})
