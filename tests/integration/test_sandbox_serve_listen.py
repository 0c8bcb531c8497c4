"""``sandbox serve`` binds before it prints (issue 28): a port in use is one line and exit 1, with no
``export`` lines for a server that is not there; ``--port 0`` prints the port it got; a client that
goes away mid-request leaves at most one quiet line, never a traceback. The installed script, real
sockets."""

from __future__ import annotations

import re
import socket
import subprocess
import time

from tests.integration.test_sandbox_serve_bind import serving, wait_listening
from tests.support.gate import RECONCILER_BIN


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
