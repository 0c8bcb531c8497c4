"""Shared by the benchmark scripts: a sandbox served in its own process, stack generators, output.

The emulators run in a child process (``reconciler sandbox serve``) on a loopback port, so their
CPU never shares the measured client's GIL. Seeding runs against a zero-latency server; the
measured run restarts it on the same ``--data-dir`` with latency and a page size.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PAGE_SIZE = 100
LATENCY_MS = 25.0

# kind -> provider API, and whether the kind's list is paged (Signaloid's webhooks list is not).
PAGED = {
    "cores": True,
    "repositories": True,
    "webhooks": False,
    "workspaces": True,
    "package_instances": True,
}


# --- the sandbox server ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``reconciler sandbox serve`` in a child process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        latency_ms: float = 0.0,
        page_size: int | None = PAGE_SIZE,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.data_dir, self.latency_ms, self.page_size = data_dir, latency_ms, page_size
        self.extra = extra  # more `sandbox serve` options, e.g. ("--rate-limit", "100")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            "SIGNALOID_API_URL": f"{self.base}/signaloid",
            "SIGNALOID_API_KEY": "bench",
            "STEAMSHIP_API_BASE": f"{self.base}/steamship/api/v1/",
            "STEAMSHIP_API_KEY": "bench",
            "SCRAMJET_HUB_URL": f"{self.base}/scramjet/api/v1",
            "NO_COLOR": "1",
        }

    def start(self) -> Server:
        cmd = [PYTHON, "-m", "reconciler.cli", "sandbox", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--latency-ms", str(self.latency_ms)]
        if self.page_size is not None:
            cmd += ["--page-size", str(self.page_size)]
        cmd += self.extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"the sandbox server exited: {err}")
            try:
                if httpx2.get(f"{self.base}/signaloid/health", timeout=1).status_code == 200:
                    return self
            except httpx2.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the sandbox server did not start within 30 s")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (user + system)."""
        if self.proc is None:
            return 0.0
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"reconciler-bench-{prefix}-") as d:
        yield Path(d)


# --- stacks -----------------------------------------------------------------------------------------
def _core(i: int) -> dict[str, Any]:
    return {
        "class": "C0",
        "microarchitecture": "Athens",
        "precision": 64 + i % 64,
        "memory_size": 256000,
        "correlation_tracking": "Autocorrelation",
    }


def _repository(i: int) -> dict[str, Any]:
    return {
        "remote_url": f"https://github.com/bench/model-{i}",
        "branch": "main",
        "build_directory": "src",
        "arguments": f"-n {i}",
        "trace_variables": [{"file": "main.c", "line_number": 1 + i % 50, "expression": "x"}],
    }


def _webhook(i: int) -> dict[str, Any]:
    return {
        "url": f"https://hooks.example.com/bench/{i}",
        "events": ["task-status"],
        "description": f"hook {i}",
    }


def _package_instance(i: int, workspace: str) -> dict[str, Any]:
    return {"workspace": workspace, "package": "hello-world", "version": "1.0.0"}


GENERATORS: dict[str, Callable[[int], dict[str, Any]]] = {
    "cores": _core,
    "repositories": _repository,
    "webhooks": _webhook,
    "workspaces": lambda i: {},
}


def kinds_in_use() -> list[str]:
    """Every kind the tool knows that a generator here can write; warns about the others."""
    from reconciler.kinds import KINDS

    names = [k.name for k in KINDS]
    missing = [n for n in names if n not in GENERATORS and n != "package_instances"]
    if missing:
        print(f"warning: no generator for kind(s) {', '.join(missing)}; left out", file=sys.stderr)
    return [n for n in names if n in GENERATORS or n == "package_instances"]


def spread(total: int, kinds: list[str]) -> dict[str, int]:
    base, extra = divmod(total, len(kinds))
    return {k: base + (1 if i < extra else 0) for i, k in enumerate(kinds)}


def stack_doc(counts: Mapping[str, int], prefix: str = "r") -> dict[str, Any]:
    """A stack of ``counts[kind]`` resources of each kind; all independent but package instances,
    which live in the stack's workspaces (round robin)."""
    doc: dict[str, Any] = {"version": 1}
    workspaces = [f"{prefix}-ws-{i}" for i in range(counts.get("workspaces", 0))]
    for kind, n in counts.items():
        if not n:
            continue
        if kind == "package_instances":
            if not workspaces:
                raise ValueError("package instances need workspaces in the stack")
            section = {
                f"{prefix}-pi-{i}": _package_instance(i, workspaces[i % len(workspaces)]) for i in range(n)
            }
        elif kind == "workspaces":
            section = {w: {} for w in workspaces}
        else:
            section = {f"{prefix}-{kind[:4]}-{i}": GENERATORS[kind](i) for i in range(n)}
        doc[kind] = section
    return doc


def write_stack(directory: Path, doc: Mapping[str, Any]) -> Path:
    """As YAML, in flow style per resource (fast to write; the loader does the same work)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"version: {doc['version']}"]
    for kind, section in doc.items():
        if kind == "version":
            continue
        lines.append(f"{kind}:")
        for name, spec in section.items():
            lines.append(f"  {name}: {json.dumps(spec)}")
    path = directory / "stack.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- running the tool in-process ----------------------------------------------------------------------
async def apply_stack(stack_dir: Path, environ: Mapping[str, str], parallelism: int = 32) -> dict[str, Any]:
    """Plan and apply ``stack_dir`` in this process; raise if anything failed."""
    from reconciler.app.planning import plan_run
    from reconciler.app.session import open_session

    async with open_session([stack_dir], sandbox=False, environ=environ) as session:
        run = await plan_run(session)
        the_plan = run.plan
        result = await session.apply(run, parallelism=parallelism)
    if not result.ok:
        failed = [r for r in result.results.values() if r.outcome.value != "done"][:3]
        raise RuntimeError(f"seeding failed: {failed}")
    return the_plan.summary()


def seed(stack_dir: Path, data_dir: Path, parallelism: int = 32) -> float:
    """Create everything in ``stack_dir`` against a zero-latency server on ``data_dir``."""
    import asyncio

    started = time.perf_counter()
    with Server(data_dir, latency_ms=0, page_size=PAGE_SIZE) as server:
        asyncio.run(apply_stack(stack_dir, server.environ, parallelism))
    return time.perf_counter() - started


def ideal_list_pages(live_counts: Mapping[str, int], page_size: int = PAGE_SIZE) -> dict[str, int]:
    """Sequential list pages per kind (a list always costs at least one page)."""
    return {
        kind: (max(1, math.ceil(n / page_size)) if PAGED.get(kind, True) else 1)
        for kind, n in live_counts.items()
    }


# --- output -----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu_ref_s": cpu_reference_s(),
    }


def cpu_reference_s() -> float:
    """Seconds for a fixed pure-Python loop: how fast this (shared, virtual) CPU is right now.

    Figures taken minutes apart on the same VM have differed by 2x; this makes them comparable."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return round(time.perf_counter() - started, 3)


async def bare_httpx_creates(base_url: str, count: int, parallelism: int) -> float:
    """The floor: ``count`` webhook creates sent with plain httpx2 at ``parallelism``, nothing else
    (no planning, state, journal or retries). Whatever a real apply costs above this is ours."""
    import httpx2

    semaphore = asyncio.Semaphore(parallelism)
    async with httpx2.AsyncClient(base_url=base_url, headers={"Authorization": "floor"}) as client:

        async def one(i: int) -> None:
            async with semaphore:
                body = {"url": f"https://floor.example.com/{i}", "events": ["task-status"]}
                response = await client.post("/webhooks", json=body)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def report(name: str, figures: dict[str, Any], rows: list[tuple[str, str, str]]) -> None:
    """One line of JSON, then a readable table of (figure, value, target)."""
    print(json.dumps({"bench": name, **figures, "machine": machine()}, sort_keys=True))
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print()
    print(f"{name}")
    for label, value, target in rows:
        print(f"  {label:<{width}}  {value:>{vwidth}}  {target}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"
