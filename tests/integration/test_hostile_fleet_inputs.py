"""The fleet and ``report merge`` under hostile input (issue 28): every report parsed whole before any
format is made (one message naming the file and the JSON path, exit 1, the same in every format);
every file read is a regular file, opened without blocking and read with a cap; a folder that cannot
be listed is an errored stack; a folder name that is not UTF-8 survives every format and the shards."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.app.fleet import FORMATS
from reconciler.app.fleet.model import fleet_report, stack_result
from tests.support.cli import RECONCILER_BIN, CliResult, RunCli
from tests.support.fleet import change, plan_doc, write_stack
from tests.support.sandbox import Sandbox

AT = "2026-01-02T03:04:05Z"


def good_report() -> dict[str, Any]:
    stack = stack_result(
        "fleet/a",
        plan_doc(change("cores.x", precision=(64, 128))),
        checked_at=AT,
        duration_s=0.1,
        http={"signaloid": {"requests": 2, "retries": 0, "rate_limited": 0}},
    )
    return fleet_report([stack], generated_at=AT, duration_s=1.0, shards=[{"index": 0, "count": 1}])


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return edit


DEFECTS = {
    "no generated_at": (_set(("generated_at",), KeyError), "$.generated_at: required, missing"),
    "duration_s a string": (_set(("duration_s",), "fast"), "$.duration_s: "),
    "shards not a list": (_set(("shards",), {"index": 0}), "$.shards: "),
    "a stack without a name": (_set(("stacks", 0, "name"), KeyError), "$.stacks[0].name: required"),
    "kinds a list": (_set(("stacks", 0, "kinds"), ["cores"]), "$.stacks[0].kinds: "),
    "counts as words": (
        _set(("stacks", 0, "kinds", "cores", "drifted"), "one"),
        "$.stacks[0].kinds.cores.drifted",
    ),
    "an unknown status": (_set(("stacks", 0, "status"), "fine"), "$.stacks[0].status: "),
    "a trillion shards": (_set(("shards", 0, "count"), 10**12), "$.shards[0].count: "),
    "an index past its count": (_set(("shards", 0), {"index": 5, "count": 2}), "$.shards[0]: "),
    "NaN seconds": (_set(("duration_s",), float("nan")), "not a fleet report: not JSON (NaN is not"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_defective_report_is_one_message_naming_the_file_and_path_in_every_format(
    defect: str, tmp_path: Path, run_cli: RunCli
) -> None:
    edit, where = DEFECTS[defect]
    doc = good_report()
    edit(doc)
    path = tmp_path / "shard-0.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    outcomes = set()
    for fmt in FORMATS:
        result = run_cli("report", "merge", path, "--format", fmt)
        assert result.exit_code == 1, (fmt, result)
        assert result.stdout == "", (fmt, result)  # no format is made from a defective report
        outcomes.add(result.stderr)
    (stderr,) = outcomes  # the same message in every format
    assert stderr.startswith(f"Error: {path}: {where}"), stderr
    assert stderr.count("\n") == 1, stderr


# Runs the CLI as its only child and writes that child's peak RSS (KiB): RUSAGE_CHILDREN of the
# test process itself would be the largest of every child it ever had.
_PEAK_OF_ONE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(code)"
)


def run_bounded(*args: str | os.PathLike[str], timeout: float = 30) -> tuple[CliResult, int]:
    """The CLI in a subprocess; its exit, and its peak memory (KiB). A run past ``timeout`` (a FIFO
    read whole blocks for ever) is killed with its process group and fails the test."""
    import signal
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("r") as peak:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PEAK_OF_ONE, peak.name, str(RECONCILER_BIN), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(
                f"reconciler {' '.join(map(str, args))} still running after {timeout}s"
            ) from None
        peak_kib = int(peak.read())
    assert peak_kib > 10 * 1024, peak_kib  # a Python process: the figure is real
    return CliResult(proc.returncode, out, err), peak_kib


def test_reports_that_are_not_regular_files_or_too_large_are_refused_unread(tmp_path: Path) -> None:
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: 300 MB claimed, nothing written
        fh.truncate(300 * 2**20)
    expected = {
        zero: "cannot read: not a regular file: a character device",
        fifo: "cannot read: not a regular file: a FIFO (named pipe)",
        huge: "cannot read: larger than 64 MiB (314,572,800 bytes)",
    }
    for path, words in expected.items():
        result, peak_kib = run_bounded("report", "merge", path, "--format", "json")
        assert (result.exit_code, result.stdout) == (1, ""), result
        assert result.stderr == f"Error: {path}: {words}\n"
        assert peak_kib < 200 * 1024, peak_kib  # nothing of it was read


def _state_at(folder: Path, state_path: str) -> None:
    stack = folder / "stack.yaml"
    stack.write_text(stack.read_text() + f"state:\n  path: {json.dumps(state_path)}\n")


def test_a_state_path_that_is_a_fifo_or_dev_zero_is_an_errored_stack_not_a_hang(
    tmp_path: Path, sandbox_server: Sandbox
) -> None:
    root = tmp_path / "fleet"
    write_stack(root / "fifo", {"f": 128})
    write_stack(root / "zero", {"z": 128})
    write_stack(root / "fine", {"ok": 128})
    os.mkfifo(root / "fifo" / "state.fifo")
    _state_at(root / "fifo", str(root / "fifo" / "state.fifo"))
    _state_at(root / "zero", "/dev/zero")

    result, peak_kib = run_bounded("drift", "--stacks", root, "--format", "json", timeout=60)

    assert result.exit_code == 1, result
    errors = {s["name"].rsplit("/", 1)[-1]: s["error"] for s in json.loads(result.stdout)["stacks"]}
    assert "not a regular file: a FIFO (named pipe)" in errors["fifo"]
    assert "/dev/zero: not a regular file: a character device" in errors["zero"]
    assert errors["fine"] is None
    assert peak_kib < 400 * 1024, peak_kib


def _without_override() -> list[str]:
    """Root lists any folder: as root, the CLI runs without the capabilities that bypass file
    permissions (the same user, so it still reads its own virtualenv)."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_a_folder_that_cannot_be_listed_is_an_errored_stack_with_the_reason(tmp_path: Path) -> None:
    import subprocess

    root = tmp_path / "fleet"
    (root / "pending").mkdir(parents=True)
    (root / "pending" / "stack.yaml").write_text("version: 1\n")  # no resources: in sync offline
    (root / "locked" / "inside").mkdir(parents=True)
    (root / "locked" / "inside" / "stack.yaml").write_text("version: 1\n")
    (root / "locked").chmod(0)
    try:
        proc = subprocess.run(
            [*_without_override(), str(RECONCILER_BIN), "drift", "--stacks", str(root), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NO_COLOR": "1", "HOME": str(tmp_path)},
            cwd=tmp_path,
        )
    finally:
        (root / "locked").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    stacks = {s["name"]: s for s in json.loads(proc.stdout)["stacks"]}
    locked = stacks[f"{root.as_posix()}/locked"]
    assert locked["status"] == "errored"
    assert locked["error"] == "cannot list this folder: Permission denied"
    assert f"{root.as_posix()}/locked: errored: cannot list this folder: Permission denied" in proc.stderr


def test_a_folder_name_that_is_not_utf8_survives_every_format_and_the_shards(
    tmp_path: Path, run_cli: RunCli
) -> None:
    root = tmp_path / "fleet"
    names = [b"caf\xe9", "café".encode(), b"plain"]
    for raw in names:
        folder = Path(os.fsdecode(os.path.join(os.fsencode(root), raw)))
        folder.mkdir(parents=True)
        (folder / "stack.yaml").write_text("version: 1\ncores:\n  x: { class: C0 }\n")  # errored: invalid
    shown = {f"{root.as_posix()}/caf\\xe9", f"{root.as_posix()}/café", f"{root.as_posix()}/plain"}
    for fmt in FORMATS:
        result = run_cli("drift", "--stacks", root, "--format", fmt)
        assert result.exit_code == 1, (fmt, result)
        result.stdout.encode("utf-8")  # strict
        if fmt == "prometheus":
            families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
            labels = {s.labels["stack"] for s in families["reconciler_drift_stack_status"].samples}
            assert labels == shown
        elif fmt != "json":
            for name in shown:
                assert name.rsplit("/", 1)[-1] in result.stdout, (fmt, name)
    report = json.loads(run_cli("drift", "--stacks", root, "--format", "json").stdout.encode())
    assert {s["name"] for s in report["stacks"]} == shown
    files = []
    for index in range(2):
        result = run_cli("drift", "--stacks", root, "--shard", f"{index}/2", "--format", "json")
        assert result.exit_code == 1, result
        files.append(tmp_path / f"{index}.json")
        files[-1].write_text(result.stdout, encoding="utf-8")
    merged = run_cli("report", "merge", *files, "--format", "json")
    assert merged.exit_code == 1, merged
    assert {s["name"] for s in merged.json()["stacks"]} == shown  # the shards hold 3 of 3
    assert sys.getfilesystemencoding() == "utf-8"
