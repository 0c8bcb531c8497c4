"""``sandbox serve`` listens on loopback only unless ``--allow-remote``, which requires a key every
emulator then checks; IPv6 URLs are printed with brackets (issue 18, item 11). It binds before it
prints (issue 28): a port in use is one line and exit 1, ``--port 0`` prints the port it got, a
client that goes away mid-request leaves no traceback. Each server runs as the installed script, on
a real socket."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest

from reconciler.errors import ReconcilerError
from reconciler.sandbox.bind import base_url, check_bind
from tests.support.gate import RECONCILER_BIN
from tests.support.polling import wait_until

KEY = "sandbox-key-0123456789abcdef"


def free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(*args: str, key: str | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``reconciler sandbox serve ARGS``; yields the process and its first line of output."""
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_SANDBOX_API_KEY"}
    if key is not None:
        env["RECONCILER_SANDBOX_API_KEY"] = key
    proc = subprocess.Popen(
        [str(RECONCILER_BIN), "sandbox", "serve", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wait_listening(url: str, headers: dict[str, str]) -> httpx2.Response:
    answers: list[httpx2.Response] = []

    def answered() -> bool:
        try:
            answers.append(httpx2.get(url, headers=headers, timeout=5))
        except httpx2.ConnectError:
            return False
        return True

    wait_until(answered, f"the sandbox to listen on {url}", timeout=30)
    return answers[-1]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_non_loopback_host_is_refused_without_allow_remote(host: str) -> None:
    proc = subprocess.run(
        [str(RECONCILER_BIN), "sandbox", "serve", "--host", host, "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "RECONCILER_SANDBOX_API_KEY"},
    )
    assert proc.returncode == 1, proc
    assert f"refusing to serve the sandbox on {host}: it is not a loopback address" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_allow_remote_without_a_key_is_refused() -> None:
    with pytest.raises(ReconcilerError, match="--allow-remote needs a key: set RECONCILER_SANDBOX_API_KEY"):
        check_bind("0.0.0.0", True, {})
    with pytest.raises(ReconcilerError, match="too short"):
        check_bind("0.0.0.0", True, {"RECONCILER_SANDBOX_API_KEY": "short"})
    assert check_bind("0.0.0.0", True, {"RECONCILER_SANDBOX_API_KEY": KEY}) == KEY
    assert check_bind("127.0.0.1", False, {}) is None and check_bind("localhost", False, {}) is None


def test_with_a_key_every_emulator_requires_it_and_the_key_is_never_printed() -> None:
    port = free_port()
    with serving("--host", "127.0.0.1", "--port", str(port), "--allow-remote", key=KEY) as (proc, first):
        assert first.startswith(f"Sandbox emulators on http://127.0.0.1:{port} ")
        base = f"http://127.0.0.1:{port}"
        assert wait_listening(f"{base}/signaloid/cores", {"Authorization": KEY}).status_code == 200
        assert httpx2.get(f"{base}/signaloid/cores", headers={"Authorization": "any"}).status_code == 403
        bearer = {"Authorization": f"Bearer {KEY}"}
        workspaces = f"{base}/steamship/api/v1/workspace/list"
        assert httpx2.post(workspaces, json={}, headers=bearer).status_code == 200
        assert httpx2.post(workspaces, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert httpx2.get(f"{base}/scramjet/api/v1/version").status_code in (401, 403)
        assert httpx2.get(f"{base}/scramjet/api/v1/version", headers=bearer).status_code == 200
    rest = proc.stdout.read() if proc.stdout else ""
    assert KEY not in first + rest and 'SIGNALOID_API_KEY="$RECONCILER_SANDBOX_API_KEY"' in rest


def test_an_ipv6_loopback_url_is_printed_with_brackets() -> None:
    try:
        port = free_port(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with serving("--host", "::1", "--port", str(port)) as (_proc, first):
        assert first.startswith(f"Sandbox emulators on http://[::1]:{port} ")
        answer = wait_listening(f"http://[::1]:{port}/signaloid/cores", {"Authorization": "k"})
        assert answer.status_code == 200
    assert base_url("::", 8787) == "http://[::]:8787" and base_url("localhost", 1) == "http://localhost:1"


def test_a_port_in_use_is_one_line_and_exit_1_before_anything_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(RECONCILER_BIN), "sandbox", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    assert (proc.returncode, proc.stdout) == (1, ""), proc
    assert proc.stderr == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another --port, or --port 0 for any free one)\n"
    )


def test_port_0_prints_the_port_it_got_and_disconnects_are_quiet() -> None:
    with serving("--port", "0") as (proc, first):
        match = re.match(r"Sandbox emulators on http://127\.0\.0\.1:(\d+) ", first)
        assert match and int(match[1]) != 0, first
        base = f"http://127.0.0.1:{match[1]}"
        assert wait_listening(f"{base}/signaloid/cores", {"Authorization": "k"}).status_code == 200
        for _ in range(30):  # a body promised, a tenth sent, the client gone
            with socket.create_connection(("127.0.0.1", int(match[1]))) as client:
                client.sendall(
                    b"POST /signaloid/cores HTTP/1.1\r\nHost: x\r\nAuthorization: k\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b'{"Class": "C0", '
                )
                time.sleep(0.01)
        assert wait_listening(f"{base}/signaloid/cores", {"Authorization": "k"}).status_code == 200
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
    assert len(err.splitlines()) <= 1, err
