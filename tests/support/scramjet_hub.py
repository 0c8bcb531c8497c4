"""Start and stop a real Scramjet Transform Hub 0.18.7 (installed by ``.ci/install-scramjet-hub.sh``).

``RealHub`` runs ``node tests/support/start_hub.js`` in its own session (so its own process group: the
hub and every runner process it spawns), waits until ``GET /api/v1/version`` answers, and on exit kills
the whole group, SIGTERM then SIGKILL, because a plain SIGTERM to the hub leaves runners alive::

    ok, why = hub_available()
    with RealHub() as hub:
        httpx2.get(f"{hub.url}/version")

Its work directory (sequences root, hub log, id file) is a temp dir removed on stop unless the caller
passed ``sequences_root`` (to keep sequences across a restart, as ``identifyExisting`` does).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx2

__all__ = ["HUB_DIR", "HUB_VERSION", "HubStartError", "RealHub", "hub_available", "pack_directory"]

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_DIR = Path(os.environ.get("SCRAMJET_HUB_DIR", REPO_ROOT / ".tools" / "scramjet-hub"))
HUB_VERSION = "0.18.7"
START_SCRIPT = Path(__file__).with_name("start_hub.js")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HubStartError(RuntimeError):
    """The hub did not come up; the message carries the end of its log."""


def hub_available(hub_dir: Path = HUB_DIR) -> tuple[bool, str]:
    """Whether node and the pinned hub packages are installed, and if not, why."""
    if shutil.which("node") is None:
        return False, "node is not on PATH (the Transform Hub is a Node.js program)"
    for package in ("@scramjet/host", "@scramjet/sth-config"):
        manifest = hub_dir / "node_modules" / package / "package.json"
        if not manifest.is_file():
            return False, f"{package} is not installed in {hub_dir}: run `bash .ci/install-scramjet-hub.sh`"
        if json.loads(manifest.read_text(encoding="utf-8")).get("version") != HUB_VERSION:
            return False, f"{package} in {hub_dir} is not version {HUB_VERSION}: re-run the install script"
    return True, f"Transform Hub {HUB_VERSION} installed in {hub_dir}"


def require_hub() -> None:
    """Skip a test when the real hub is not installed here; under CI (which installs it), fail."""
    import pytest

    ok, why = hub_available()
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the real Scramjet Transform Hub is not installed: {why}", pytrace=False)
    pytest.skip(f"!!! REAL SCRAMJET HUB TESTS SKIPPED: {why}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pack_directory(path: Path) -> bytes:
    """A tar.gz of ``path``'s files with package.json at the archive root (what the hub expects)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(path).as_posix())
    return buf.getvalue()


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is still in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class RealHub:
    """A real Transform Hub on free loopback ports, in its own process group."""

    def __init__(
        self,
        sequences_root: Path | None = None,
        *,
        hub_dir: Path = HUB_DIR,
        identify_existing: bool = True,
        start_timeout: float = 30.0,
    ) -> None:
        self.hub_dir = hub_dir
        self.identify_existing = identify_existing
        self.start_timeout = start_timeout
        self.work_dir = Path(tempfile.mkdtemp(prefix="scramjet-hub-"))
        self.sequences_root = sequences_root or self.work_dir / "sequences"
        self.log_path = self.work_dir / "hub.log"
        self.port = 0
        self.instances_port = 0
        self.pgid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._final_log = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def log_text(self) -> str:
        """The hub's stdout and stderr so far, without colour codes."""
        if self.log_path.exists():
            return _ANSI.sub("", self.log_path.read_text(encoding="utf-8", errors="replace"))
        return _ANSI.sub("", self._final_log)

    def start(self) -> RealHub:
        ok, why = hub_available(self.hub_dir)
        if not ok:
            raise HubStartError(why)
        self.sequences_root.mkdir(parents=True, exist_ok=True)
        # Ports are picked then released, so another process may grab one first: retry a few times.
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready()
                return self
            except HubStartError:
                in_use = "EADDRINUSE" in self.log_text()
                self._kill_group()
                if not in_use or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.port = free_port("127.0.0.1")
        # 0.18.7 binds the runner socket server on all interfaces, so ask for a port free there.
        self.instances_port = free_port("0.0.0.0")
        cmd = [
            shutil.which("node") or "node",
            str(START_SCRIPT),
            "--hub-dir",
            str(self.hub_dir),
            "--port",
            str(self.port),
            "--instances-port",
            str(self.instances_port),
            "--sequences-root",
            str(self.sequences_root),
            "--info-file",
            str(self.work_dir / "sth-id.json"),
        ]
        if not self.identify_existing:
            cmd.append("--no-identify-existing")
        env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.pgid = self._proc.pid

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                raise HubStartError(f"the hub exited with code {code} while starting:\n{self._log_tail()}")
            try:
                if httpx2.get(f"{self.url}/version", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise HubStartError(
            f"the hub did not answer GET /version within {self.start_timeout:.0f}s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return self.log_text()[-4000:]

    def _kill_group(self) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left; wait until nothing of it runs."""
        if self._proc is None or self.pgid is None:
            return
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self._proc.poll()  # reap the hub itself so it is not counted as a zombie
                if not group_alive(self.pgid):
                    break
                time.sleep(0.05)
            if not group_alive(self.pgid):
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._proc = None

    def stop(self) -> None:
        """Stop the hub and every runner, then remove the work dir (a RealHub is used once).

        A caller-supplied ``sequences_root`` lives outside the work dir and is kept."""
        self._kill_group()
        self._final_log = self.log_text()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> RealHub:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
