"""The policy engine in a child process, with a time and a memory limit.

rego-cpp (through regopy) can crash its process (docs/policy.md: a rule that calls a builtin,
evaluated under ``with input as``, is a SIGSEGV), and a policy can loop or allocate without end.
So the engine runs in ``child.py``, a process of its own started with the interpreter running
this one (``-I``: no user site, no current directory on ``sys.path``). It limits its own address
space and CPU time before the engine is loaded; the parent adds a wall-clock deadline per
request and kills it past that. Whatever happens to the child is an :class:`EngineFailed`, never
harm to the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reconciler.errors import PolicyError

__all__ = ["EngineFailed", "EngineProcess", "Limits"]

CHILD = Path(__file__).with_name("child.py")
STDERR_KEPT = 4096  # the tail of what the child printed, for a message (bounded)
ANSWER_MAX = 64 * 1024 * 1024  # an answer line longer than this is refused


@dataclass(frozen=True)
class Limits:
    """Per policy run: seconds of wall-clock time per request (CPU time too), MiB of address space."""

    seconds: float = 30.0
    memory_mib: int = 2048

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Limits:
        """``RECONCILER_POLICY_TIMEOUT`` (seconds) and ``RECONCILER_POLICY_MEMORY_MIB`` override
        the defaults (documented in docs/policy.md); a value that is not a positive number is ignored."""
        seconds, memory = cls.seconds, cls.memory_mib
        with contextlib.suppress(ValueError):
            seconds = float(environ.get("RECONCILER_POLICY_TIMEOUT", "")) or seconds
        with contextlib.suppress(ValueError):
            memory = int(environ.get("RECONCILER_POLICY_MEMORY_MIB", "")) or memory
        return cls(max(seconds, 0.1), max(memory, 256))


class EngineFailed(PolicyError):
    """The engine's process died, was killed at a limit, or answered nonsense: ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EngineProcess:
    """One running engine process. ``start`` returns once the engine is loaded in it."""

    def __init__(self, process: asyncio.subprocess.Process, limits: Limits) -> None:
        self._process = process
        self._limits = limits
        self._stderr = bytearray()
        assert process.stderr is not None
        self._stderr_reader = asyncio.ensure_future(self._drain(process.stderr))

    @classmethod
    async def start(cls, limits: Limits) -> EngineProcess:
        cpu = max(1, int(limits.seconds + 0.999))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(CHILD),
            str(limits.memory_mib),
            str(cpu),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=ANSWER_MAX,
            env=_child_environ(),
        )
        engine = cls(process, limits)
        await engine._answer("loading the policy engine")
        return engine

    async def request(self, message: dict[str, Any], what: str) -> dict[str, Any]:
        """Send one request, wait for its answer within the time limit. ``what`` names the work
        for the message of a failure ("evaluating the policies")."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(orjson.dumps(message) + b"\n")
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died: _answer says how
        return await self._answer(what)

    async def _answer(self, what: str) -> dict[str, Any]:
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), self._limits.seconds)
        except TimeoutError:
            await self.close()
            raise EngineFailed(
                f"{what} took longer than the policy time limit ({self._limits.seconds:g} s); "
                "the engine was stopped (a rule that loops, or a plan too large for the limit: "
                "RECONCILER_POLICY_TIMEOUT)"
            ) from None
        except ValueError:  # longer than ANSWER_MAX
            await self.close()
            raise EngineFailed(f"{what}: the engine's answer is larger than {ANSWER_MAX >> 20} MiB") from None
        if not line:
            raise EngineFailed(f"{what}: {await self._death()}")
        try:
            answer = orjson.loads(line)
        except orjson.JSONDecodeError:
            await self.close()
            raise EngineFailed(f"{what}: the engine answered something that is not JSON") from None
        if not isinstance(answer, dict):
            await self.close()
            raise EngineFailed(f"{what}: the engine answered something that is not an object")
        return answer

    async def _death(self) -> str:
        """Why the process ended (it closed its answers): a signal, or the limit it ran into."""
        code = await self._process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr_reader, 1.0)
        said = self._stderr.decode("utf-8", "replace")
        out_of_memory = "MemoryError" in said or "bad_alloc" in said
        if out_of_memory:
            return (
                f"the engine ran out of its memory limit ({self._limits.memory_mib} MiB) and stopped "
                "(a rule that allocates without end?)"
            )
        if code < 0:
            name = _signal_name(-code)
            if -code == signal.SIGXCPU:
                return f"the engine used its CPU time limit ({self._limits.seconds:g} s) and was stopped"
            return f"the policy engine crashed ({name}); this is a fault of the engine, not of the plan"
        last = said.strip().splitlines()[-1:] or [""]
        return f"the engine stopped with exit code {code} {last[0][:200]}".rstrip()

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._stderr += chunk
            del self._stderr[:-STDERR_KEPT]

    async def close(self) -> None:
        """Stop the process (it is ours: killed by its own handle) and reap it."""
        if self._process.returncode is None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        await self._process.wait()
        self._stderr_reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr_reader

    async def __aenter__(self) -> EngineProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _child_environ() -> dict[str, str]:
    """The child's environment: only what an interpreter needs to start. It never sees the
    parent's credentials (API keys in the environment)."""
    kept = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in kept}
