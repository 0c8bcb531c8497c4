"""Every malformed stack in tests/bad_inputs/ gives one clear message with file:line and exit 1.

A case is a file (or a folder of files, for multi-file mistakes). It declares what it expects in a
comment ``# expect: LINE: fragment`` (``-`` for "no line": empty or binary files), written in the
file the error is about, or in ``<case>.expect`` beside a file that cannot hold a comment.
``# env: NAME=value`` lines set environment variables for the run, ``# args: …`` adds command-line
arguments (``--var env=prod``, paths relative to the case); ``# xfail: reason`` (at the end, so
line numbers do not move) marks a known bug, strictly: the case fails loudly once it is fixed. A
folder's file may be in a subfolder (a module's file, for a mistake inside a module).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.support.examples import pristine_example

CASES_DIR = Path(__file__).parents[2] / "bad_inputs"
EXPECT = re.compile(r"^# expect: (?P<line>-|\d+): (?P<fragment>.+)$", re.MULTILINE)
XFAIL = re.compile(r"^# xfail: (?P<reason>.+)$", re.MULTILINE)
ENV = re.compile(r"^# env: (?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.MULTILINE)
ARGS = re.compile(r"^# args: (?P<args>.+)$", re.MULTILINE)
MIN_CASES = 35


@dataclass
class Case:
    path: Path  # what is passed to -f
    file: Path  # the file the error must name
    line: int | None
    fragment: str
    env: dict[str, str] = field(default_factory=dict)
    xfail: str | None = None  # a known bug: the reason, with where it is
    args: list[str] = field(default_factory=list)


def _declaration(file: Path) -> tuple[Path, str] | None:
    sidecar = file.with_name(file.name + ".expect")
    for source in (sidecar, file):
        if source.exists():
            text = source.read_bytes().decode("utf-8", errors="replace")
            if EXPECT.search(text):
                return file, text
    return None


def _load_case(path: Path) -> Case:
    files = sorted(p for p in path.rglob("*.yaml")) if path.is_dir() else [path]
    found = [d for d in map(_declaration, files) if d is not None]
    assert len(found) == 1, f"{path.name}: exactly one file must carry '# expect: LINE: fragment'"
    file, text = found[0]
    match = EXPECT.search(text)
    assert match is not None
    line = None if match["line"] == "-" else int(match["line"])
    env = {m["name"]: m["value"] for m in ENV.finditer(text)}
    xfail = XFAIL.search(text)
    folder = path if path.is_dir() else path.parent
    args = [
        str(folder / word) if word.endswith(".yaml") else word
        for m in ARGS.finditer(text)
        for word in shlex.split(m["args"])
    ]
    return Case(path, file, line, match["fragment"].strip(), env, xfail["reason"] if xfail else None, args)


def _cases() -> list[Case]:
    return [
        _load_case(p) for p in sorted(CASES_DIR.iterdir()) if p.is_dir() or (p.suffix in (".yaml", ".yml"))
    ]


CASES = _cases()


def _run_validate(
    path: Path, env: dict[str, str] | None = None, args: list[str] | None = None
) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "-f", str(path), *(args or [])], env=env or {})
    return result.exit_code, result.output  # click >= 8.2: output holds stdout and stderr


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= MIN_CASES


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in CASES
    ],
    ids=[c.path.name for c in CASES],
)
def test_bad_input_gives_one_clear_error(case: Case) -> None:
    env = {"RECONCILER_TEST_SURELY_UNSET": None, **case.env}
    code, output = _run_validate(case.path, env, case.args)  # type: ignore[arg-type]
    assert code == 1, output
    assert "Traceback" not in output
    assert output.startswith("Error: "), output
    line = "" if case.line is None else f":{case.line}"
    where = re.compile(re.escape(case.file.name) + re.escape(line) + r"(:\d+)?: (?P<message>.*)$")
    messages = [m["message"] for m in map(where.search, output.splitlines()) if m]
    assert messages, f"expected {case.file.name}{line} in:\n{output}"
    assert any(case.fragment in m for m in messages), f"expected {case.fragment!r} at {line} in:\n{output}"


def test_a_valid_stack_passes(tmp_path: Path) -> None:
    """The runner itself can tell good from bad: the quickstart example (as shipped) validates."""
    example = pristine_example("quickstart", tmp_path)
    code, output = _run_validate(example)
    assert code == 0, output
    assert "The stack is valid: 4 resources in 1 file." in output


def test_a_path_that_does_not_exist(tmp_path: Path) -> None:
    code, output = _run_validate(tmp_path / "nope.yaml")
    assert code == 1
    assert "nope.yaml: no such file or directory" in output


def test_a_directory_without_stack_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, output = _run_validate(tmp_path)
    assert code == 1
    assert "no *.yaml or *.yml files in this directory" in output


def test_deep_nesting_beyond_the_parser_stack(tmp_path: Path) -> None:
    """Nesting deep enough to exhaust Python's recursion, not just our depth limit."""
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\nwebhooks:\n  h:\n    description: " + "[" * 20000 + "]" * 20000 + "\n")
    code, output = _run_validate(path)
    assert code == 1
    assert "Traceback" not in output
    assert "deep.yaml:4: values nested more than 64 levels deep" in output  # with its line (issue 18.10)


SECRET = "s3cr3t-Value-9f1c"
SECRET_PLACEMENTS = {
    "enum": (
        "cores",
        '  c:\n    class: C0\n    microarchitecture: "${env:SECRET_VALUE}"\n'
        "    precision: 128\n    memory_size: 256000\n    correlation_tracking: Disable\n",
    ),
    "integer": (
        "cores",
        "  c:\n    class: C0\n    microarchitecture: Athens\n"
        '    precision: "${env:SECRET_VALUE}"\n    memory_size: 256000\n'
        "    correlation_tracking: Disable\n",
    ),
    "url": ("webhooks", '  h:\n    url: "${env:SECRET_VALUE}"\n    events: [task-status]\n'),
    "url_embedded": (
        "webhooks",
        '  h:\n    url: "https://x y/${env:SECRET_VALUE}"\n    events: [task-status]\n',
    ),
    "events_item": (
        "webhooks",
        '  h:\n    url: https://hooks.example.com/a\n    events: ["${env:SECRET_VALUE}"]\n',
    ),
}


@pytest.mark.parametrize("placement", sorted(SECRET_PLACEMENTS))
def test_a_value_from_the_environment_is_never_echoed(tmp_path: Path, placement: str) -> None:
    section, body = SECRET_PLACEMENTS[placement]
    path = tmp_path / "stack.yaml"
    path.write_text(f"version: 1\n{section}:\n{body}")
    code, output = _run_validate(path, {"SECRET_VALUE": SECRET})
    assert code == 1, output
    assert "stack.yaml:" in output
    assert SECRET not in output
    assert SECRET[:8] not in output


def test_a_reference_from_the_environment_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        "version: 1\nrepositories:\n  r:\n    remote_url: https://github.com/acme/r\n    branch: main\n"
        '    core: "${env:SECRET_VALUE}"\n'
    )
    code, output = _run_validate(path, {"SECRET_VALUE": SECRET})
    assert code == 1
    assert "stack.yaml:6:" in output
    assert SECRET not in output


def test_an_out_of_range_precision_from_the_environment_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        "version: 1\ncores:\n  c:\n    class: C0\n    microarchitecture: Athens\n"
        '    precision: "${env:SECRET_VALUE}"\n    memory_size: 256000\n    correlation_tracking: Disable\n'
    )
    code, output = _run_validate(path, {"SECRET_VALUE": "987654321"})
    assert code == 1
    assert "987654321" not in output and "987,654,321" not in output
