"""Fixtures for driving the real CLI against the emulators over a loopback socket.

- ``start_sandbox(wrap=None)``: serve ``reconciler.sandbox.server.build_app`` (persisted in a tmp
  directory) on 127.0.0.1, optionally behind an ASGI wrapper (faults), and point the CLI at it
  (``SIGNALOID_API_URL`` / ``SIGNALOID_API_KEY``). ``sandbox_server`` is the unwrapped one.
- ``run_cli(*args)``: ``reconciler`` in process through click's ``CliRunner``;
  ``run_cli_process(*args)``: the installed console script in a subprocess, where process
  isolation matters (global logging set-up of ``--debug``, the quickstart exactly as typed).
- ``stack_dir``: a tmp folder with helpers to write the stack YAML and read the state file.
- ``SignaloidApi``: a plain httpx2 client over the emulator's own HTTP API, to check what the CLI
  did (or to create objects behind its back) without going through any of our code.
- ``signaloid_casing``: the casing the served Signaloid emulator answers in (``pascal``); a module
  overrides it with a parametrised fixture to run its tests against both spellings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.server import build_app
from tests.support.servers import serve_app
from tests.support.signaloid_casing import to_pascal

API_KEY = "integration-test-key"
RECONCILER_BIN = Path(sys.executable).with_name("reconciler")

CORE: dict[str, Any] = {
    "class": "C0",
    "microarchitecture": "Athens",
    "precision": 128,
    "memory_size": 256000,
    "correlation_tracking": "Autocorrelation",
}
WEBHOOK: dict[str, Any] = {"events": ["task-status", "build-status"], "description": "CI", "status": "active"}


def repository(url: str, core: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"remote_url": url, "branch": "main", "commit": "HEAD", "build_directory": "src"}
    if core is not None:
        spec["core"] = core
    return {**spec, **extra}


# --- the CLI -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown by pytest when an assertion on the result fails
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


RunCli = Callable[..., CliResult]


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


class StackDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path / "stack.yaml"
        self.state_path = path / ".reconciler" / "state.json"

    def write(
        self,
        cores: dict[str, Any] | None = None,
        repositories: dict[str, Any] | None = None,
        webhooks: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
        **providers: Any,
    ) -> Path:
        """Write ``stack.yaml`` with these resources (and ``providers.signaloid`` settings)."""
        doc: dict[str, Any] = {"version": 1}
        signaloid = {**providers, **({"http": http} if http else {})}
        if signaloid:
            doc["providers"] = {"signaloid": signaloid}
        for section, items in (("cores", cores), ("repositories", repositories), ("webhooks", webhooks)):
            if items:
                doc[section] = items
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return self.file

    def state_text(self) -> str:
        return self.state_path.read_text(encoding="utf-8") if self.state_path.exists() else ""

    def state(self) -> dict[str, str]:
        """address -> remote id, as recorded in ``.reconciler/state.json``."""
        if not self.state_path.exists():
            return {}
        doc = json.loads(self.state_text())
        return {address: entry["remote_id"] for address, entry in doc["resources"].items()}


@pytest.fixture
def stack_dir(tmp_path: Path) -> StackDir:
    path = tmp_path / "stack"
    path.mkdir()
    return StackDir(path)


# --- the emulator's own API ----------------------------------------------------------------------

_LISTS = {"cores": ("/cores", "Cores"), "repositories": ("/repositories", "Repositories")}
_IDS = {"cores": "CoreID", "repositories": "RepositoryID", "webhooks": "WebhookID"}


class SignaloidApi:
    """Straight HTTP to the emulator (no reconciler code), for checks and out-of-band changes."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.client = httpx2.Client(base_url=url, headers={"Authorization": key}, timeout=10)

    def close(self) -> None:
        self.client.close()

    def objects(self, kind: str) -> list[dict[str, Any]]:
        if kind == "webhooks":
            response = self.client.get("/webhooks")
            response.raise_for_status()
            return list(to_pascal(response.json()["webhooks"]))
        path, items_key = _LISTS[kind]
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(1000):
            response = self.client.get(path, params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(to_pascal(page[items_key]))
            if not page.get("ContinuationKey"):
                return items
            params["startKey"] = page["ContinuationKey"]
        raise AssertionError(f"GET {path} never stopped paging")

    def ids(self, kind: str) -> set[str]:
        return {item[_IDS[kind]] for item in self.objects(kind)}

    def by_id(self, kind: str) -> dict[str, dict[str, Any]]:
        return {item[_IDS[kind]]: item for item in self.objects(kind)}

    def key_counts(self, kind: str) -> Counter[tuple[str, ...]]:
        """How many live objects share each natural key (anything above 1 is a duplicate)."""
        keys = {
            "cores": lambda o: (o["Name"],),
            "repositories": lambda o: (o["RemoteURL"], o["Branch"]),
            "webhooks": lambda o: (o["URL"],),
        }[kind]
        return Counter(keys(o) for o in self.objects(kind))

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path = {"cores": "/cores", "repositories": "/repositories", "webhooks": "/webhooks"}[kind]
        response = self.client.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(to_pascal(response.json()))

    def create_core(self, name: str, precision: int = 128) -> str:
        body = {"Name": name, "Class": "C0", "Microarchitecture": "Athens", "Precision": precision,
                "MemorySize": 256000, "CorrelationTracking": "autocorrelation"}  # fmt: skip
        return str(self.create("cores", body)["CoreID"])

    def create_repository(self, url: str, core: str | None = None) -> str:
        body = {"RemoteURL": url, "Branch": "main", "Commit": "HEAD", "BuildDirectory": "src"}
        if core:
            body["Core"] = core
        return str(self.create("repositories", body)["RepositoryID"])

    def create_webhook(self, url: str) -> str:
        body = {"url": url, "events": WEBHOOK["events"], "description": WEBHOOK["description"]}
        return str(self.create("webhooks", body)["WebhookID"])


# --- the served sandbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    url: str  # base URL of the combined app: /signaloid/…, /scramjet/…, /steamship/…
    signaloid_url: str
    api: SignaloidApi
    data_dir: Path
    app: Any  # what is served: the emulators' app, or the wrapper around it


StartSandbox = Callable[..., Sandbox]


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
