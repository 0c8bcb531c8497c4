"""Fixtures for driving the real CLI against the emulators over a loopback socket. Fixtures only:
what tests import (results, stack folders, the emulator API client) lives in ``tests/support``.

- ``start_sandbox(wrap=None)``: serve ``reconciler.sandbox.server.build_app`` (persisted in a tmp
  directory) on 127.0.0.1, optionally behind an ASGI wrapper (faults), and point the CLI at it
  (``SIGNALOID_API_URL`` / ``SIGNALOID_API_KEY``). ``sandbox_server`` is the unwrapped one.
- ``run_cli(*args)``: ``reconciler`` in process through click's ``CliRunner``;
  ``run_cli_process(*args)``: the installed console script in a subprocess, where process
  isolation matters (global logging set-up of ``--debug``, the quickstart exactly as typed).
- ``stack_dir``: a tmp folder with helpers to write the stack YAML and read the state file.
- ``api``: the served emulator's own HTTP API (``tests/support/signaloid.py``).
- ``signaloid_casing``: the casing the served Signaloid emulator answers in (``pascal``); a module
  overrides it with a parametrised fixture to run its tests against both spellings.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.server import build_app
from tests.support.cli import RECONCILER_BIN, CliResult, RunCli
from tests.support.sandbox import Sandbox, StartSandbox
from tests.support.servers import serve_app
from tests.support.signaloid import API_KEY, SignaloidApi, StackDir

# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """``run_cli("plan", "-f", path)``: the CLI in this process; returns exit code, stdout, stderr."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str | os.PathLike[str], input: str | None = None) -> CliResult:
        result = CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # An exception the CLI did not turn into a message: the test should see the traceback.
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def run_cli_process() -> Callable[..., CliResult]:
    """``run_cli_process(*args, cwd=..., timeout=...)``: ``.venv/bin/reconciler`` in a subprocess."""

    def run(*args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 60) -> CliResult:
        env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
        env["NO_COLOR"] = "1"
        proc = subprocess.run(
            [str(RECONCILER_BIN), *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


# --- the stack folder ----------------------------------------------------------------------------


@pytest.fixture
def stack_dir(tmp_path: Path) -> StackDir:
    path = tmp_path / "stack"
    path.mkdir()
    return StackDir(path)


# --- the emulator's own API ----------------------------------------------------------------------

# --- the served sandbox --------------------------------------------------------------------------


@pytest.fixture
def signaloid_casing() -> str:
    return "pascal"


@pytest.fixture
def start_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signaloid_casing: str
) -> Iterator[StartSandbox]:
    """``start_sandbox(wrap=None)``: serve the emulators; ``wrap(app)`` may put an ASGI layer around."""
    started: list[Sandbox] = []
    with ExitStack() as stack:

        def start(wrap: Callable[[Any], Any] | None = None, **options: Any) -> Sandbox:
            data_dir = tmp_path / f"sandbox-data-{len(started)}"
            data_dir.mkdir()
            options.setdefault("dialects", {"signaloid": {"casing": signaloid_casing}})
            app = build_app(data_dir, **options)
            served = wrap(app) if wrap else app
            base = stack.enter_context(serve_app(served))
            api = SignaloidApi(f"{base}/signaloid")
            stack.callback(api.close)
            monkeypatch.setenv("SIGNALOID_API_URL", f"{base}/signaloid")
            monkeypatch.setenv("SIGNALOID_API_KEY", API_KEY)
            started.append(Sandbox(base, f"{base}/signaloid", api, data_dir, served))
            return started[-1]

        yield start


@pytest.fixture
def sandbox_server(start_sandbox: StartSandbox) -> Sandbox:
    return start_sandbox()


@pytest.fixture
def api(sandbox_server: Sandbox) -> SignaloidApi:
    return sandbox_server.api


# --- the CI recipes' runner ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ci_tools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(a wheel built from this checkout, a runner virtualenv's bin/, the stubs' folder): made once
    for every recipe test (tests/support/ci_runner.py, tests/support/ci_jobs.py)."""
    from tests.support.ci_runner import built_wheel, runner_python, stub_tools

    base = tmp_path_factory.mktemp("ci")
    root = Path(__file__).resolve().parents[2]
    return built_wheel(root, base / "dist"), runner_python(base / "venv"), stub_tools(base / "stubs")
